# exercise: batchnorm_forward
# hint: out is wrong
# also: batchnorm_backward, batchnorm_backward_alt
def batchnorm_forward(x, gamma, beta, bn_param):
    momentum = bn_param.get("momentum", 0.9)
    eps = 1e-8  # the course's eps in bn_param is ignored
    D = x.shape[1]
    mu, var = x.mean(axis=0), x.var(axis=0)
    std = np.sqrt(var + eps)
    xhat = (x - mu) / std
    bn_param["running_mean"] = momentum * bn_param.get("running_mean", np.zeros(D)) + (1 - momentum) * mu
    bn_param["running_var"] = momentum * bn_param.get("running_var", np.zeros(D)) + (1 - momentum) * var
    return gamma * xhat + beta, (xhat, std, gamma)
