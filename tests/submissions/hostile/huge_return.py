# threat: a 1 GB return value
# exercise: mul
# status: failed
# message: exceeded the 1 GiB memory limit
def mul_backward(dout, x, y):
    big = np.ones(125_000_000)
    return big, big
