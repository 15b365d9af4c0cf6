# mistake: the scale gate multiplies the upstream by its input instead of its constant
# exercise: scale
# hint: the input x is used where the constant belongs
def scale_backward(dout, x, c):
    return dout * x
