# mistake: sign error
# exercise: mul
# hint: wrong sign
def mul_backward(dout, x, y):
    return -dout * y, -dout * x
