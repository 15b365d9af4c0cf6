"""Leaky ReLU: write its backward pass with numpy."""

import numpy as np


def leaky_relu_backward(dout, x, alpha):
    """dL/dx of leaky_relu(x) = x if x > 0 else alpha * x.

    dout: the upstream gradient, shaped like x (any shape, 0-d included).
    alpha: a float, the slope for x <= 0.
    Returns dx, shaped like x.
    """
    raise NotImplementedError
