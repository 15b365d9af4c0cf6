# mistake: sigmoid derivative computed from the input: x(1 - x)
# exercise: sigmoid
# hint: taken from the input
def sigmoid_backward(dout, x):
    return dout * x * (1 - x)
