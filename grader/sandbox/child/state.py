"""The process state every call of the submission starts from (runs in the child).

A call may change, for itself, what lives on in the process after it returns: an alarm or
interval timer that goes off during another gate, a profile or trace hook, the recursion
limit, numpy's error handling, a resource limit, the warning filters. Left in place, any
of them could make a later, correct gate fail: a fault of one gate would cost another.
`Baseline` is that state as the import left it (the import's own choices are the
submission's and stay, but for its timers, which would go off in some gate's time: they
are stopped); `restore` puts it back after every call. The warning filters
come back by themselves (each call runs in `warnings.catch_warnings`); a signal handler
a call sets is left, as nothing sends that signal once its timers are stopped and what the
call left running is gone (threads and processes: a fresh child).
"""

import faulthandler
import signal
import sys

import numpy as np

try:
    import resource
except ImportError:  # Windows
    resource = None

TIMERS = [getattr(signal, name) for name in ("ITIMER_REAL", "ITIMER_VIRTUAL", "ITIMER_PROF")
          if hasattr(signal, name)]
# The limits whose lowering fails a later call: CPU time, memory, stack, open files, file
# size, processes (each is read after every call: about 2 microseconds).
LIMITS = [getattr(resource, name) for name in ("RLIMIT_CPU", "RLIMIT_AS", "RLIMIT_DATA",
                                               "RLIMIT_STACK", "RLIMIT_NOFILE",
                                               "RLIMIT_FSIZE", "RLIMIT_NPROC")
          if hasattr(resource, name)] if resource else []


def _stop_timers():
    """Stop every timer; True when one was running."""
    faulthandler.cancel_dump_traceback_later()
    return any([signal.setitimer(timer, 0) != (0.0, 0.0) for timer in TIMERS])


def _limits():
    return [resource.getrlimit(which) for which in LIMITS]


class Baseline:
    """The state to come back to after each call."""

    def __init__(self):
        _stop_timers()
        self.hooks = sys.getprofile(), sys.gettrace()
        self.recursion = sys.getrecursionlimit()
        self.numpy = np.geterr(), np.geterrcall()
        self.limits = _limits()

    def restore(self):
        """Put the state back; True when a fresh child should run the calls that follow:
        a timer was armed (one may have gone off already, to be handled later) or a limit
        cannot be raised back."""
        armed = _stop_timers()  # first: nothing more goes off while the rest is undone
        if (sys.getprofile(), sys.gettrace()) != self.hooks:
            sys.setprofile(self.hooks[0])
            sys.settrace(self.hooks[1])
        if sys.getrecursionlimit() != self.recursion:
            sys.setrecursionlimit(self.recursion)
        if (np.geterr(), np.geterrcall()) != self.numpy:
            np.seterr(**self.numpy[0])
            np.seterrcall(self.numpy[1])
        return armed or not self._restore_limits()

    def _restore_limits(self):
        now = _limits()
        for which, before, after in zip(LIMITS, self.limits, now):
            if before != after:
                try:
                    resource.setrlimit(which, before)
                except (OSError, ValueError):  # a lowered hard limit stays lowered
                    return False
        return True
