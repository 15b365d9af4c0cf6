# exercise: softmax_loss
# hint: divide by N
def softmax_loss(x, y):
    N = x.shape[0]
    shifted = x - x.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    dx = np.exp(log_p)
    dx[np.arange(N), y] -= 1
    return -log_p[np.arange(N), y].sum(), dx
