# mistake: ReLU mask inverted
# exercise: relu
# hint: mask is inverted
def relu_backward(dout, x):
    return dout * (x <= 0)
