# exercise: batchnorm_backward_alt
# hint: dgamma is missing x̂
def batchnorm_backward_alt(dout, cache):
    xhat, std, gamma = cache
    N = dout.shape[0]
    dxhat = dout * gamma
    dx = (N * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0)) / (N * std)
    return dx, dout.sum(axis=0), dout.sum(axis=0)
