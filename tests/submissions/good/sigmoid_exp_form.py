# variant: sigmoid derivative as exp(-|x|) / (1 + exp(-|x|))**2 (even in x, never overflows)
# exercises: sigmoid
def sigmoid_backward(dout, x):
    e = np.exp(-np.abs(x))
    return dout * e / (1.0 + e) ** 2
