# threat: os._exit(0) in a gate, skipping every handler
# exercise: max
# status: error
# message: exited \(status 0\) before returning a result
import os


def max_backward(dout, x, y):
    os._exit(0)
