# mistake: softmax shifted by the maximum of the whole batch, not of each row
# exercise: softmax_ce
# hint: shift the scores by each row's own maximum
def softmax_ce_backward(dout, scores, y):
    with np.errstate(all="ignore"):
        p = np.exp(scores - scores.max())
        p = p / p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1
    return dout * p / len(y)
