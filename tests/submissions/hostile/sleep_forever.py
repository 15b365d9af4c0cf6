# threat: blocking without using CPU
# exercise: exp
# status: error
# message: timed out after 2 s
import time


def exp_backward(dout, x):
    time.sleep(10**6)
