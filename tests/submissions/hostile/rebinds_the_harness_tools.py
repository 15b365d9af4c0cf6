# threat: a gate rebinds the standard library the harness runs each call with; a later gate raises
# exercise: mul
# status: partial
# message: raised ValueError: 0-d inputs are not handled at line
import contextlib
import time
import traceback
import warnings


def add_backward(dout, x, y):
    contextlib.redirect_stdout = contextlib.redirect_stderr = None
    warnings.catch_warnings = None
    time.perf_counter = None
    traceback.extract_tb = None
    return dout * 1.0, dout * 1.0


def mul_backward(dout, x, y):  # a later gate that raises is described as before
    if np.ndim(x) == 0:
        raise ValueError("0-d inputs are not handled")
    return dout * y, dout * x
