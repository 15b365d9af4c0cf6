# mistake: db averaged over the batch instead of summed
# exercise: linear
# hint: extra division by N
def linear_backward(dout, x, w, b):
    return dout @ w.T, x.T @ dout, dout.mean(axis=0)
