# threat: a gate arms an interval timer whose handler raises in whatever gate runs next
# exercise: -
import signal


def _go_off(signum, frame):
    raise RuntimeError("went off in another gate")


def add_backward(dout, x, y):
    signal.signal(signal.SIGALRM, _go_off)
    signal.setitimer(signal.ITIMER_REAL, 0.01, 0.01)
    return dout * 1.0, dout * 1.0
