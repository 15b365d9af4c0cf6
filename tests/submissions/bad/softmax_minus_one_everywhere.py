# mistake: subtracts 1 from every class
# exercise: softmax_ce
# hint: applied to every class
def softmax_ce_backward(dout, scores, y):
    p = np.exp(scores - scores.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return dout * (p - 1) / len(y)
