# threat: memory held by orphans: forked twice, the middle process exits, so they leave the child's own tree
# exercise: linear
# status: (error|failed)
# message: more than \d+ MiB of memory
import os
import time


def linear_backward(dout, x, w, b):
    for _ in range(4):
        middle = os.fork()
        if middle == 0:
            if os.fork() == 0:
                os.setsid()
                block = bytearray(400 << 20)  # touched: really resident
                time.sleep(60)
                os._exit(len(block) and 0)
            os._exit(0)
        os.waitpid(middle, 0)
    time.sleep(60)
