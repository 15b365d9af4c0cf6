# mistake: sigmoid derivative taken as sigmoid(x) alone
# exercise: sigmoid
# hint: sigmoid(x) alone
def sigmoid_backward(dout, x):
    return dout / (1 + np.exp(-x))
