# exercise: layernorm_forward
# hint: normalises over the batch axis
# also: layernorm_backward
def layernorm_forward(x, gamma, beta, ln_param):
    eps = ln_param.get("eps", 1e-5)
    std = np.sqrt(x.var(axis=0) + eps)
    xhat = (x - x.mean(axis=0)) / std
    return gamma * xhat + beta, (xhat, std, gamma)
