# variant: softmax from log-sum-exp, one-hot built with np.eye
# exercises: softmax_ce two_layer_net
def softmax_ce_backward(dout, scores, y):
    m = scores.max(axis=1, keepdims=True)
    lse = m + np.log(np.exp(scores - m).sum(axis=1, keepdims=True))
    p = np.exp(scores - lse)
    onehot = np.eye(scores.shape[1])[y]
    return dout * (p - onehot) / scores.shape[0]
