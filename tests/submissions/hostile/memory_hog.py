# threat: memory grown step by step
# exercise: linear
# status: failed
# message: exceeded the 1 GiB memory limit
def linear_backward(dout, x, w, b):
    hog = []
    while True:
        hog.append(np.empty(2**24))  # 128 MiB of address space each
