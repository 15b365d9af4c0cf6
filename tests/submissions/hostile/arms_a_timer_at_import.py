# threat: top-level code arms an interval timer whose handler raises in whatever gate runs
# exercise: -
import signal


def _go_off(signum, frame):
    raise RuntimeError("went off in some gate")


signal.signal(signal.SIGALRM, _go_off)
signal.setitimer(signal.ITIMER_REAL, 0.05, 0.01)  # from 50 ms on: after the import
