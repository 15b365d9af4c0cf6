"""The process state every call of the submission starts from (runs in the child).

A call may change, for itself, what lives on in the process after it returns: an alarm or
interval timer that goes off during another gate, a profile or trace hook, the recursion
limit, numpy's error handling, a resource limit, the warning filters, a name of numpy,
math or the builtins rebound (`np.exp = ...`), the garbage collector's callbacks and
thresholds, the handler of a signal the harness's own I/O can raise. Left in place, any of
them could make a later, correct gate fail: a fault of one gate would cost another.
`Baseline` is that state as the import left it (the import's own choices are the
submission's and stay, but for its timers, which would go off in some gate's time: they
are stopped); `restore` puts it back after every call. The warning filters come back by
themselves (each call runs in `warnings.catch_warnings`); the handlers of other signals
are left, as nothing sends those once the call's timers are stopped and what it left
running is gone (threads and processes: a fresh child).
"""

import faulthandler
import gc
import itertools
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


# The modules a gate's arithmetic reaches for, and those the harness runs the next call
# with: a name one call rebinds, adds or deletes in them is put back, so that a later gate
# meets them as its import did (looked at by identity, which no object can fake: about 30
# microseconds a call). The harness's means of sending need no such care: a call that
# breaks them ends its child during its own exercise, and a fresh child serves the next.
MODULES = ("builtins", "math", "numpy", "numpy.linalg", "numpy.random",
           "contextlib", "warnings", "traceback", "time")
_NO_SUBMODULE = object()


class _Namespaces:
    """The names of `MODULES` as the import left them, and the modules `sys.modules` held."""

    def __init__(self):
        self.modules = {name: sys.modules[name] for name in MODULES if name in sys.modules}
        self.names = [vars(module) for module in self.modules.values()]
        self.now = [names.values() for names in self.names]  # live views: what a call left
        self._keep()

    def _keep(self):
        self.kept = [dict(names) for names in self.names]
        self.values = [value for kept in self.kept for value in kept.values()]

    def restore(self, _all=all, _map=map, _is=operator.is_, _len=len, _sum=sum, _set=set,
                _zip=zip, _chain=itertools.chain.from_iterable):
        """Put the names back when any changed, in one pass over all of them when none did.
        The builtins themselves may be what the call rebound: what this runs is bound
        here, when the harness was imported."""
        for name, module in self.modules.items():
            if sys.modules.get(name) is not module:
                sys.modules[name] = module
        if _sum(_map(_len, self.now)) == _len(self.values) and \
                _all(_map(_is, _chain(self.now), self.values)):
            return
        for name, names, kept in _zip(self.modules, self.names, self.kept):
            names.update(kept)
            for key in _set(names) - _set(kept):
                # A submodule the call imported is numpy's own doing (`np.ma` loads numpy.ma
                # and binds it here): it stays, and is part of the namespace from now on.
                if names[key] is not sys.modules.get(f"{name}.{key}", _NO_SUBMODULE):
                    del names[key]
        self._keep()


# What the harness's pipes can raise, once a call asked for it (O_ASYNC, a closed reader).
IO_SIGNALS = [getattr(signal, name) for name in ("SIGIO", "SIGURG", "SIGPIPE")
              if hasattr(signal, name)]


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
        self.namespaces = _Namespaces()
        self.gc = list(gc.callbacks), gc.get_threshold(), gc.isenabled()
        self.handlers = [signal.getsignal(which) for which in IO_SIGNALS]

    def restore(self):
        """Put the state back; True when a fresh child should run the calls that follow:
        a timer was armed (one may have gone off already, to be handled later) or a limit
        cannot be raised back."""
        armed = _stop_timers()  # first: nothing more goes off while the rest is undone
        self.namespaces.restore()  # next: what follows may use any of them
        self._restore_gc()
        for which, handler in zip(IO_SIGNALS, self.handlers):
            if signal.getsignal(which) is not handler:
                signal.signal(which, handler)
        if (sys.getprofile(), sys.gettrace()) != self.hooks:
            sys.setprofile(self.hooks[0])
            sys.settrace(self.hooks[1])
        if sys.getrecursionlimit() != self.recursion:
            sys.setrecursionlimit(self.recursion)
        if (np.geterr(), np.geterrcall()) != self.numpy:
            np.seterr(**self.numpy[0])
            np.seterrcall(self.numpy[1])
        return armed or not self._restore_limits()

    def _restore_gc(self):
        """Callbacks, and how often it runs: a threshold of 1 would run a finalizer the
        call left in some later gate's time."""
        callbacks, threshold, enabled = self.gc
        if gc.callbacks != callbacks:
            gc.callbacks[:] = callbacks
        if gc.get_threshold() != threshold:
            gc.set_threshold(*threshold)
        if gc.isenabled() != enabled:
            (gc.enable if enabled else gc.disable)()

    def _restore_limits(self):
        now = _limits()
        for which, before, after in zip(LIMITS, self.limits, now):
            if before != after:
                try:
                    resource.setrlimit(which, before)
                except (OSError, ValueError):  # a lowered hard limit stays lowered
                    return False
        return True
