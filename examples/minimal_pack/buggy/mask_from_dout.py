# exercise: leaky_relu
# hint: takes its mask from the upstream gradient
def leaky_relu_backward(dout, x, alpha):
    return dout * np.where(dout > 0, 1.0, alpha)
