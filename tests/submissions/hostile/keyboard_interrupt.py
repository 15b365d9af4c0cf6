# threat: KeyboardInterrupt in a gate
# exercise: offset
# status: failed
# message: stopped with KeyboardInterrupt instead of returning
def offset_backward(dout, x, c):
    raise KeyboardInterrupt
