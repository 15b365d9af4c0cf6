# mistake: the local gradient of exp taken as x
# exercise: exp
# hint: the input x is used where exp's output belongs
def exp_backward(dout, x):
    return dout * x
