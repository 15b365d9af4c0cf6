# exercise: affine_backward
# hint: reshape it to the shape of x
def affine_backward(dout, cache):
    x, w, b = cache
    return dout @ w.T, x.reshape(x.shape[0], -1).T @ dout, dout.sum(axis=0)
