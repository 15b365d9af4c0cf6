# mistake: the offset gate multiplies by its constant
# exercise: offset
# hint: the constant c disappears
def offset_backward(dout, x, c):
    return dout * c
