# mistake: the scale gate forgets its constant
# exercise: scale
# hint: multiply by c
def scale_backward(dout, x, c):
    return dout.copy()
