# threat: half-characters (lone surrogates) in what a gate prints and in an error message
# exercise: add
# status: failed
# message: raised ValueError: oops \?
def mul_backward(dout, x, y):
    print("half a character: \udc80")
    return dout * y, dout * x


def add_backward(dout, x, y):
    raise ValueError("oops \ud800")
