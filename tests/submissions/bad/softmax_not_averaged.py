# mistake: forgot to divide by N (the loss is a mean)
# exercise: softmax_ce
# hint: not averaged over the batch
def softmax_ce_backward(dout, scores, y):
    p = np.exp(scores - scores.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1
    return dout * p
