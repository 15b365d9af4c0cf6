# mistake: mutates its argument (dx = dout; dx[x <= 0] = 0)
# exercise: relu
# hint: changed its argument dout in place
def relu_backward(dout, x):
    dx = dout
    dx[x <= 0] = 0
    return dx
