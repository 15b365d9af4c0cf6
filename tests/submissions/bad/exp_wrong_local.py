# mistake: the local gradient of exp taken as x
# exercise: exp
# hint: the local gradient is exp(x)
def exp_backward(dout, x):
    return dout * x
