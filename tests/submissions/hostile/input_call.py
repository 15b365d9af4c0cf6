# threat: waits for keyboard input
# exercise: max
# status: failed
# message: raised EOFError
def max_backward(dout, x, y):
    input("your answer? ")
