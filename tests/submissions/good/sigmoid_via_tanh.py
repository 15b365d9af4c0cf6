# variant: sigmoid through tanh, derivative from the output
# exercises: sigmoid
def sigmoid_backward(dout, x):
    s = 0.5 * (1.0 + np.tanh(0.5 * x))
    return dout * s * (1.0 - s)
