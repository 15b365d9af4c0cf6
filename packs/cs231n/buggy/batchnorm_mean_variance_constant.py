# exercise: batchnorm_backward
# hint: has the path direct only
def batchnorm_backward(dout, cache):
    xhat, std, gamma = cache
    return dout * gamma / std, (dout * xhat).sum(axis=0), dout.sum(axis=0)
