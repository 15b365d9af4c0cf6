# threat: ignores SIGTERM and SIGALRM, then sleeps
# exercise: relu
# status: error
# message: timed out after 2 s
import signal, time


def relu_backward(dout, x):
    for sig in (signal.SIGTERM, signal.SIGALRM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    time.sleep(10**6)
