# mistake: forgot to multiply by the upstream gradient
# exercise: exp
# hint: ignores the upstream gradient
def exp_backward(dout, x):
    return np.exp(x)
