# variant: linear layer with einsum and np.dot
# exercises: linear two_layer_net
def linear_backward(dout, x, w, b):
    dx = np.einsum("nm,dm->nd", dout, w)
    dw = np.dot(x.T, dout)
    db = np.einsum("nm->m", dout)
    return dx, dw, db
