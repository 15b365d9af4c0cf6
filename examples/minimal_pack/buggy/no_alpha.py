# exercise: leaky_relu
# hint: the negative side passes the upstream unchanged
def leaky_relu_backward(dout, x, alpha):
    return dout * np.ones_like(x)
