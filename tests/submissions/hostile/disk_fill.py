# threat: fills the disk
# exercise: exp
# status: failed
# message: File too large
def exp_backward(dout, x):
    with open("big.bin", "wb") as f:
        while True:
            f.write(b"x" * 2**20)
