# mistake: db keeps the batch axis
# exercise: linear
# hint: without keepdims
def linear_backward(dout, x, w, b):
    return dout @ w.T, x.T @ dout, dout.sum(axis=0, keepdims=True)
