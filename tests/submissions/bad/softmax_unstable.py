# mistake: softmax without the max shift overflows at large scores
# exercise: softmax_ce
# hint: shift the scores by each row's own maximum
def softmax_ce_backward(dout, scores, y):
    with np.errstate(all="ignore"):
        p = np.exp(scores)
        p = p / p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1
    return dout * p / len(y)
