# threat: one huge allocation
# exercise: reciprocal
# status: failed
# message: exceeded the 1 GiB memory limit
def reciprocal_backward(dout, x):
    return np.ones(10**10)
