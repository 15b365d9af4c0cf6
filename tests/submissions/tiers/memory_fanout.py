# threat: eight forked children of 400 MB each: every process under its own limit
# exercise: linear
# status: (error|failed)
# message: (more than \d+ MiB of memory|Resource temporarily unavailable|MemoryError|timed out)
import os
import time


def linear_backward(dout, x, w, b):
    for _ in range(8):
        if os.fork() == 0:
            block = bytearray(400 << 20)  # touched: really resident
            time.sleep(60)
            os._exit(len(block) and 0)
    time.sleep(60)
