# mistake: forgot the -1 at the label
# exercise: softmax_ce
# hint: -1 at the label is missing
def softmax_ce_backward(dout, scores, y):
    p = np.exp(scores - scores.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return dout * p / len(y)
