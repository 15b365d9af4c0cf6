# mistake: dw transposed
# exercise: linear
# hint: it looks transposed
def linear_backward(dout, x, w, b):
    return dout @ w.T, dout.T @ x, dout.sum(axis=0)
