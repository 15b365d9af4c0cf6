# mistake: forgot to multiply by the upstream gradient
# exercise: mul
# hint: ignores the upstream gradient
def mul_backward(dout, x, y):
    return y.copy(), x.copy()
