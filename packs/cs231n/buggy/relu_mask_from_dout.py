# exercise: relu_backward
# hint: takes its mask from the upstream gradient
def relu_backward(dout, cache):
    return dout * (dout > 0)
