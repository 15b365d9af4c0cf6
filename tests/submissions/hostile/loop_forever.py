# threat: an infinite loop in one gate
# exercise: mul
# status: error
# message: timed out after 2 s
def mul_backward(dout, x, y):
    while True:
        pass
