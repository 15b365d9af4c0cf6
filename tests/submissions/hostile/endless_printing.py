# threat: prints forever
# exercise: offset
# status: error
# message: timed out after 2 s
def offset_backward(dout, x, c):
    while True:
        print("spam " * 1000)
