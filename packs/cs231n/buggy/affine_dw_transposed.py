# exercise: affine_backward
# hint: looks transposed
def affine_backward(dout, cache):
    x, w, b = cache
    return (dout @ w.T).reshape(x.shape), dout.T @ x.reshape(x.shape[0], -1), dout.sum(axis=0)
