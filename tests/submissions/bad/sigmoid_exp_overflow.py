# mistake: sigmoid as exp(x) / (1 + exp(x)), which overflows (inf / inf) at large x
# exercise: sigmoid
# hint: exp overflowed at a large |x|
def sigmoid_backward(dout, x):
    with np.errstate(all="ignore"):
        s = np.exp(x) / (1 + np.exp(x))
    return dout * s * (1 - s)
