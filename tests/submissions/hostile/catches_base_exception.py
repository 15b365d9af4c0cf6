# threat: catches BaseException (even SystemExit) forever
# exercise: add
# status: error
# message: timed out after 2 s
import time


def add_backward(dout, x, y):
    while True:
        try:
            time.sleep(10)
        except BaseException:
            pass
