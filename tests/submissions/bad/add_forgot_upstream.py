# mistake: forgot to multiply by the upstream gradient
# exercise: add
# hint: ignores the upstream gradient
def add_backward(dout, x, y):
    return np.ones_like(x), np.ones_like(y)
