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
