"""Backpropagation, gate by gate.

Implement the backward pass of each gate below in numpy. Every array argument is a float64
numpy array (scalars are 0-d arrays; the labels `y` of softmax_ce are integers). `dout` is
the upstream gradient dL/d(output), shaped like the gate's output. Each function returns
dL/d(input) for every array input, in argument order, each shaped like its input. Do not
modify the arguments: compute new arrays.

Check your work at any time with:

    backprop check backprop.py
"""

import numpy as np


def add_backward(dout, x, y):
    """Gate x + y. Return (dx, dy)."""
    raise NotImplementedError


def mul_backward(dout, x, y):
    """Gate x * y (elementwise). Return (dx, dy)."""
    raise NotImplementedError


def max_backward(dout, x, y):
    """Gate max(x, y), elementwise. Return (dx, dy).

    The grader never tests at a tie, so any choice there is accepted.
    """
    raise NotImplementedError


def exp_backward(dout, x):
    """Gate exp(x). Return dx."""
    raise NotImplementedError


def reciprocal_backward(dout, x):
    """Gate 1 / x. Return dx."""
    raise NotImplementedError


def scale_backward(dout, x, c):
    """Gate c * x, where c is a Python float. Return dx."""
    raise NotImplementedError


def offset_backward(dout, x, c):
    """Gate x + c, where c is a Python float. Return dx."""
    raise NotImplementedError


def sigmoid_backward(dout, x):
    """Gate sigmoid(x) = 1 / (1 + exp(-x)). Return dx."""
    raise NotImplementedError


def relu_backward(dout, x):
    """Gate relu(x) = max(0, x), elementwise. Return dx.

    The grader never tests at x == 0, so any subgradient there is accepted.
    """
    raise NotImplementedError


def relu_jacobian(x):
    """The full (n, n) Jacobian of relu at a 1-D x of length n. Return J."""
    raise NotImplementedError


def linear_backward(dout, x, w, b):
    """Layer x @ w + b with x of shape (N, D), w (D, M), b (M,). Return (dx, dw, db)."""
    raise NotImplementedError


def softmax_ce_backward(dout, scores, y):
    """Loss: the mean over rows of -log softmax(scores)[y].

    scores has shape (N, C); y holds N integer labels in [0, C); dout is 0-d.
    Return dscores, shaped like scores. Only scores gets a gradient.
    """
    raise NotImplementedError


def backprop(nodes, local_grads, output):
    """General backprop on a scalar graph. Return {name: d(output)/d(name)} for every node.

    nodes maps each node's name to the list of its input names (in no particular order of
    the nodes; a leaf maps to []). local_grads maps each name to a list aligned with
    nodes[name]: local_grads[name][i] = d(name)/d(nodes[name][i]). A node that does not
    reach the output gets 0, and the output itself gets 1.
    """
    raise NotImplementedError


# Worked examples of the lecture: replace each None by the gradient you computed by hand.

# f = (x + y) * z at x = -2, y = 5, z = -4.
SIMPLE_GRAPH_GRADS = {"x": None, "y": None, "z": None}

# f = 1 / (1 + exp(-(w0*x0 + w1*x1 + w2))) at w = [2, -3, -3], x = [-1, -2].
SIGMOID_NEURON_GRADS = {"w0": None, "x0": None, "w1": None, "x1": None, "w2": None}

# f = 2 * (x*y + max(z, w)) at x = 3, y = -4, z = 2, w = -1.
GATE_PATTERNS_GRADS = {"x": None, "y": None, "z": None, "w": None}


# ---- Tools for checking your own work (not graded; keep or delete them) -------------------
# The forward pass of each gate, a numerical gradient and a relative error, as in the
# lecture. When a check fails, `backprop check backprop.py --save-cases cases` saves the
# inputs of each failing case; then, in Python or a notebook cell:
#
#     check_case("cases/mul-values.npz", mul_backward, mul_forward)
#
# prints your gradient's relative error against the numerical one, input by input
# (below 1e-7 is right; near 1 is wrong). Or load the case and look at it yourself:
#
#     case = np.load("cases/mul-values.npz")   # case["dout"], case["x"], case["y"]


def add_forward(x, y):
    return x + y


def mul_forward(x, y):
    return x * y


def max_forward(x, y):
    return np.maximum(x, y)


def exp_forward(x):
    return np.exp(x)


def reciprocal_forward(x):
    return 1.0 / x


def scale_forward(x, c):
    return c * x


def offset_forward(x, c):
    return x + c


def sigmoid_forward(x):
    return 1.0 / (1.0 + np.exp(-x))


def relu_forward(x):
    return np.maximum(0.0, x)


def linear_forward(x, w, b):
    return x @ w + b


def softmax_ce_forward(scores, y):
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -np.mean(log_probs[np.arange(scores.shape[0]), y])


def numerical_gradient(forward, x, dout, h=1e-5):
    """Central differences of sum(forward(x) * dout) with respect to x, entry by entry:
    what backward(dout, x) should return. `x` is left as it was."""
    x = np.array(x, dtype=float)
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        saved = x[index]
        x[index] = saved + h
        plus = np.sum(forward(x) * dout)
        x[index] = saved - h
        minus = np.sum(forward(x) * dout)
        x[index] = saved
        grad[index] = (plus - minus) / (2 * h)
    return grad


def relative_error(a, b):
    """max |a - b| / (|a| + |b|), safe where both are zero."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b)), initial=0.0))


def check_case(path, backward, forward):
    """Rerun a saved case: call backward(dout, ...) and compare each gradient it returns
    with the numerical gradient of forward(...) for that input; say if it changed one of
    its arguments."""
    case = dict(np.load(path))
    given = {name: value.copy() for name, value in case.items()}
    grads = backward(**given)
    grads = grads if isinstance(grads, tuple) else (grads,)
    for name, value in case.items():
        if not np.array_equal(given[name], value):
            print(f"{name} was changed in place: compute new arrays instead")
    inputs = {name: value for name, value in case.items() if name != "dout"}
    for (name, value), grad in zip(inputs.items(), grads):
        numeric = numerical_gradient(
            lambda v: forward(**{**inputs, name: v}), value, case["dout"])
        if np.shape(grad) != np.shape(numeric):
            print(f"d{name}: shape {np.shape(grad)}; expected {np.shape(numeric)}")
        elif not np.all(np.isfinite(grad)):
            print(f"d{name}: contains nan or inf")
        else:
            print(f"d{name}: relative error {relative_error(grad, numeric):.2e}")
