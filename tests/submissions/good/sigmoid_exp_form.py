# variant: sigmoid derivative as exp(-x) / (1 + exp(-x))**2
# exercises: sigmoid
def sigmoid_backward(dout, x):
    e = np.exp(-x)
    return dout * e / (1.0 + e) ** 2
