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
