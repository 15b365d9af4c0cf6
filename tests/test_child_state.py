"""`child/state.py`: each call of the submission starts from the state its import left."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ROOT

PROBE = """
import resource, signal, sys, warnings
import numpy as np
from grader.sandbox.child import state

np.seterr(divide="ignore")  # the import's own choice: it stays
baseline = state.Baseline()

sys.setprofile(lambda *a: None)
sys.setrecursionlimit(50)
np.seterr(all="raise")
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
print(baseline.restore())
assert sys.getprofile() is None and sys.getrecursionlimit() > 50
assert np.geterr()["divide"] == "ignore" and np.geterr()["over"] != "raise"
assert resource.getrlimit(resource.RLIMIT_NOFILE) == (soft, hard)

signal.signal(signal.SIGALRM, lambda *a: sys.exit("went off"))
signal.setitimer(signal.ITIMER_REAL, 0.05)
print(baseline.restore())
assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)

before = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
print(baseline.restore(), resource.getrlimit(resource.RLIMIT_FSIZE) != before)
"""


@pytest.mark.linux
def test_a_call_leaves_nothing_set_for_the_calls_after_it():
    """What can be put back is, silently; an armed timer, or a hard limit lowered for good
    (without CAP_SYS_RESOURCE), asks for a fresh child for the calls after it."""
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    restored, timer, limit = done.stdout.splitlines()
    assert (restored, timer) == ("False", "True")
    fresh, lowered_for_good = limit.split()
    assert fresh == lowered_for_good


NAMESPACES = """
import builtins, gc, math, sys
import numpy as np
from grader.sandbox.child import state

helper = np.zeros  # the import's own rebinding: it stays
np.my_helper = helper
baseline = state.Baseline()
masked = np.ma.masked_all(3)  # numpy imports numpy.ma, and binds it in its namespace

class Liar:  # claims to equal what it replaced
    __eq__ = lambda self, other: True

exp, pi, real_max, numpy = np.exp, np.pi, max, sys.modules["numpy"]
np.sum = Liar()
np.exp, np.pi, math.exp = None, np.ones(3), None
builtins.max = builtins.len = lambda *a: 0
del np.ones_like
np.fft = "not numpy's"
np.extra = 1
sys.modules["numpy"] = None
gc.callbacks.append(lambda phase, info: 1 / 0)  # would raise in whatever call collects
threshold = gc.get_threshold()
gc.set_threshold(1)  # a finalizer left behind would run in the next gate's time
gc.disable()
import signal
signal.signal(signal.SIGIO, lambda *a: setattr(np, "exp", None))  # the grader's writes
baseline.restore()
assert np.ma.masked_all(2).shape == (2,)  # numpy.ma stays
assert np.exp is exp and np.sum(np.ones(2)) == 2 and np.pi is pi
assert max is real_max and len([1, 2]) == 2
assert math.exp(0) == 1 and np.ones_like(np.zeros(2)).sum() == 2
assert not hasattr(np, "extra") and np.fft.__name__ == "numpy.fft"
assert sys.modules["numpy"] is numpy and np.my_helper is helper and gc.callbacks == []
assert gc.get_threshold() == threshold and gc.isenabled()
assert signal.getsignal(signal.SIGIO) == signal.SIG_DFL
print("restored")
"""


def test_names_a_call_rebinds_in_numpy_math_and_the_builtins_are_put_back():
    """Even the builtins the restore itself would use, even a value that will not compare
    (an array) or one that claims to equal anything, even a module replaced in
    `sys.modules`; what the import bound stays."""
    done = subprocess.run([sys.executable, "-c", NAMESPACES], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0 and done.stdout == "restored\n", done.stderr
