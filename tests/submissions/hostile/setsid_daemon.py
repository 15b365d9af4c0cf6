# threat: a double-forked setsid daemon that tries to outlive the grader
# exercise: -
import os, time


def add_backward(dout, x, y):
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            while True:
                time.sleep(0.01)
        os._exit(0)
    return dout * 1.0, dout * 1.0
