# mistake: the local gradient of exp taken as x
# exercise: exp
# hint: the local gradient of exp is taken like a power rule
def exp_backward(dout, x):
    return dout * x
