# root: yes
# threat: a bounded fork attempt (200 sleeping children) against a 32-process limit
# exercise: exp
# status: failed
# message: Resource temporarily unavailable
import os, time


def exp_backward(dout, x):
    for _ in range(200):
        if os.fork() == 0:
            time.sleep(1000)
            os._exit(0)
    return dout * np.exp(x)
