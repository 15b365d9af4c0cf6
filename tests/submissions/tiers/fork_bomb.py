# threat: forks without end
# exercise: sigmoid
# status: (error|failed)
# message: (Resource temporarily unavailable|more than \d+ processes|timed out)
import os


def sigmoid_backward(dout, x):
    while True:
        os.fork()
