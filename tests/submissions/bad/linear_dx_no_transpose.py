# mistake: dx computed as dout @ w (the transpose of w is missing)
# exercise: linear
# hint: check which operand needs a transpose (.T)
def linear_backward(dout, x, w, b):
    return dout @ w, x.T @ dout, dout.sum(axis=0)
