# mistake: the offset gate multiplies by its constant
# exercise: offset
# hint: the constant c does not belong in the gradient of x + c
def offset_backward(dout, x, c):
    return dout * c
