# threat: closes every inherited file descriptor, the result pipe included
# exercise: mul
# status: error
# message: exited \(status 0\) before returning a result
import os


def mul_backward(dout, x, y):
    os.closerange(3, 4096)
    return dout * y, dout * x
