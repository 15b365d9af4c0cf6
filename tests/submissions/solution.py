"""A correct submission: the base every known-bad and known-good variant overrides."""

import numpy as np


def add_backward(dout, x, y):
    return dout * np.ones_like(x), dout * np.ones_like(y)


def mul_backward(dout, x, y):
    return dout * y, dout * x


def max_backward(dout, x, y):
    return dout * (x >= y), dout * (y > x)


def exp_backward(dout, x):
    return dout * np.exp(x)


def reciprocal_backward(dout, x):
    return -dout / x**2


def scale_backward(dout, x, c):
    return dout * c


def offset_backward(dout, x, c):
    return dout * np.ones_like(x)


def sigmoid_backward(dout, x):
    s = 1.0 / (1.0 + np.exp(-x))
    return dout * s * (1.0 - s)


def relu_backward(dout, x):
    return dout * (x > 0)


def relu_jacobian(x):
    return np.diag((x > 0).astype(float))


def linear_backward(dout, x, w, b):
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)


def softmax_ce_backward(dout, scores, y):
    shifted = scores - scores.max(axis=1, keepdims=True)
    p = np.exp(shifted)
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1
    return dout * p / len(y)


def topological_order(nodes):
    """Every node after its inputs: an iterative depth-first search."""
    order, seen = [], set()
    for root in nodes:
        if root in seen:
            continue
        stack = [(root, iter(nodes[root]))]
        seen.add(root)
        while stack:
            name, inputs = stack[-1]
            child = next(inputs, None)
            if child is None:
                order.append(name)
                stack.pop()
            elif child not in seen:
                seen.add(child)
                stack.append((child, iter(nodes[child])))
    return order


def backprop(nodes, local_grads, output):
    grads = {name: 0.0 for name in nodes}
    grads[output] = 1.0
    for name in reversed(topological_order(nodes)):
        for child, local in zip(nodes[name], local_grads[name]):
            grads[child] += grads[name] * local
    return grads


SIMPLE_GRAPH_GRADS = {"x": -4.0, "y": -4.0, "z": 3.0}
SIGMOID_NEURON_GRADS = {"w0": -0.196612, "x0": 0.393224, "w1": -0.393224, "x1": -0.589836,
                        "w2": 0.196612}
GATE_PATTERNS_GRADS = {"x": -8.0, "y": 6.0, "z": 2.0, "w": 0.0}
