# mistake: ReLU mask taken from the upstream gradient
# exercise: relu
# hint: mask is taken from the upstream
def relu_backward(dout, x):
    return dout * (dout > 0)
