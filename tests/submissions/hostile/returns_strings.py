# threat: wrong types: strings
# exercise: mul
# status: failed
# message: dx is a str; expected a numpy array
def mul_backward(dout, x, y):
    return "dx", "dy"
