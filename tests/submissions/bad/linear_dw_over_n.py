# mistake: dw divided by the batch size
# exercise: linear
# hint: extra division by N
def linear_backward(dout, x, w, b):
    return dout @ w.T, x.T @ dout / x.shape[0], dout.sum(axis=0)
