# threat: wrong types: an object array
# exercise: add
# status: failed
# message: dx is a ndarray; expected a numpy array
def add_backward(dout, x, y):
    return np.array([object()] * dout.size), dout
