# threat: wrong types: a dict
# exercise: relu
# status: failed
# message: dx is a dict; expected a numpy array
def relu_backward(dout, x):
    return {"dx": dout * (x > 0)}
