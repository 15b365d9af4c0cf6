import numpy as np


def leaky_relu_backward(dout, x, alpha):
    return dout * np.where(x > 0, 1.0, alpha)
