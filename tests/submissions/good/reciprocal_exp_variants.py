# variant: other correct formulas for exp, reciprocal, scale, offset
# exercises: exp reciprocal scale offset
def exp_backward(dout, x):
    out = np.empty_like(x)
    np.exp(x, out=out)
    return out * dout


def reciprocal_backward(dout, x):
    return -dout * (1.0 / x) ** 2


def scale_backward(dout, x, c):
    return c * dout + 0.0 * x


def offset_backward(dout, x, c):
    return dout + 0.0
