# mistake: forgot to multiply by the upstream gradient
# exercise: sigmoid
# hint: ignores the upstream gradient
def sigmoid_backward(dout, x):
    s = 1 / (1 + np.exp(-x))
    return s * (1 - s)
