# mistake: db summed over the wrong axis
# exercise: linear
# hint: wrong axis
def linear_backward(dout, x, w, b):
    return dout @ w.T, x.T @ dout, dout.sum(axis=1)
