# threat: wrong types: None
# exercise: exp
# status: failed
# message: dx is a NoneType; expected a numpy array
def exp_backward(dout, x):
    dx = dout * np.exp(x)
