# root: yes
# threat: tries to become root again
# exercise: add
# status: failed
# message: Operation not permitted
import os


def add_backward(dout, x, y):
    os.setuid(0)
