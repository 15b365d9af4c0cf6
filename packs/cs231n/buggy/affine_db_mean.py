# exercise: affine_backward
# hint: an extra division by N
def affine_backward(dout, cache):
    x, w, b = cache
    return (dout @ w.T).reshape(x.shape), x.reshape(x.shape[0], -1).T @ dout, dout.mean(axis=0)
