# root: yes
# threat: tries to kill its parent, the grader
# exercise: mul
# status: failed
# message: Operation not permitted
import os, signal


def mul_backward(dout, x, y):
    os.kill(os.getppid(), signal.SIGKILL)
