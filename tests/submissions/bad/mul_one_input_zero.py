# mistake: the gradient of y is left at zero
# exercise: mul
# hint: your dy is zero everywhere: no gradient reaches y
def mul_backward(dout, x, y):
    return dout * y, np.zeros_like(y)
