"""The process state every call of the submission starts from (runs in the child).

A call may change, for itself, what lives on in the process after it returns: an alarm or
interval timer that goes off during another gate, a profile or trace hook, the recursion
limit, numpy's error handling, a resource limit, the warning filters, a name of numpy,
math or the builtins rebound (`np.exp = ...`), a garbage collector callback. Left in place,
any of them could make a later, correct gate fail: a fault of one gate would cost another.
`Baseline` is that state as the import left it (the import's own choices are the
submission's and stay, but for its timers, which would go off in some gate's time: they
are stopped); `restore` puts it back after every call. The warning filters
come back by themselves (each call runs in `warnings.catch_warnings`); a signal handler
a call sets is left, as nothing sends that signal once its timers are stopped and what the
call left running is gone (threads and processes: a fresh child).
"""

import faulthandler
import gc
import operator
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


# The modules a gate's arithmetic reaches for: a name one call rebinds, adds or deletes in
# them is put back, so that a later gate meets them as its import did (looked at by
# identity, which no object can fake: about 20 microseconds a call). The harness's own
# means of sending need no such care: a call that breaks them ends its child during its
# own exercise, and a fresh child serves the next.
MODULES = ("builtins", "math", "numpy", "numpy.linalg", "numpy.random")
_NO_SUBMODULE = object()


class _Namespace:
    """A module's names as the import left them, and the module as `sys.modules` held it."""

    def __init__(self, name):
        self.name, self.module = name, sys.modules[name]
        self.names = vars(self.module)
        self.kept = dict(self.names)
        self.values = list(self.kept.values())

    def restore(self, _all=all, _map=map, _is=operator.is_, _len=len, _set=set):
        """Put the names back when any changed. The builtins themselves may be what the call
        rebound: what this runs is bound here, when the harness was imported."""
        if sys.modules.get(self.name) is not self.module:
            sys.modules[self.name] = self.module
        if _len(self.names) == _len(self.values) and \
                _all(_map(_is, self.names.values(), self.values)):
            return
        self.names.update(self.kept)
        for name in _set(self.names) - _set(self.kept):
            # A submodule the call imported is numpy's own doing (`np.ma` loads numpy.ma
            # and binds it here): it stays, and is part of the namespace from now on.
            if self.names[name] is not sys.modules.get(f"{self.name}.{name}", _NO_SUBMODULE):
                del self.names[name]
        self.kept = dict(self.names)
        self.values = list(self.kept.values())


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
        self.namespaces = [_Namespace(name) for name in MODULES if name in sys.modules]
        self.gc_callbacks = list(gc.callbacks)

    def restore(self):
        """Put the state back; True when a fresh child should run the calls that follow:
        a timer was armed (one may have gone off already, to be handled later) or a limit
        cannot be raised back."""
        armed = _stop_timers()  # first: nothing more goes off while the rest is undone
        for namespace in self.namespaces:  # next: what follows may use any of them
            namespace.restore()
        if gc.callbacks != self.gc_callbacks:
            gc.callbacks[:] = self.gc_callbacks
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
