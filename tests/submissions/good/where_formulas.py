# variant: np.where everywhere, ties sent to y
# exercises: max relu relu_jacobian two_layer_net
def max_backward(dout, x, y):
    return np.where(x > y, dout, 0.0), np.where(x > y, 0.0, dout)


def relu_backward(dout, x):
    return np.where(x > 0, dout, 0.0)


def relu_jacobian(x):
    return np.where(np.eye(len(x), dtype=bool) & (x > 0), 1.0, 0.0)
