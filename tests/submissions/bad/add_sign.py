# mistake: sign error
# exercise: add
# hint: wrong sign
def add_backward(dout, x, y):
    return -dout, -dout
