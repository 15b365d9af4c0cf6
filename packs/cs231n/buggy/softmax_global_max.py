# exercise: softmax_loss
# hint: nan/inf
def softmax_loss(x, y):
    N = x.shape[0]
    shifted = x - x.max()
    p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    dx = p.copy()
    dx[np.arange(N), y] -= 1
    return -np.log(p[np.arange(N), y]).mean(), dx / N
