# threat: wrong types: None
# exercise: exp
# status: failed
# message: returned None: is the `return` statement missing
def exp_backward(dout, x):
    dx = dout * np.exp(x)
