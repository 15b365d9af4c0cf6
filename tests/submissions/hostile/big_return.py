# threat: a return value larger than the result channel allows (8 MiB here)
# exercise: mul
# status: error
# message: larger than the 8388608-byte limit
def mul_backward(dout, x, y):
    big = np.ones(4_000_000)
    return big, big
