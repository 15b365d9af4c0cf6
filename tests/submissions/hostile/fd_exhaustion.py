# threat: opens files until the table is full
# exercise: reciprocal
# status: failed
# message: Too many open files
def reciprocal_backward(dout, x):
    files = [open("/dev/null") for _ in range(100_000)]
