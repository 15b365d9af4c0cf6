# mistake: exp's local gradient taken as exp(-x)
# exercise: exp
# hint: the sign inside the exponent is flipped
def exp_backward(dout, x):
    return dout * np.exp(-x)
