# threat: a gate rebinds names of numpy and math that later, correct gates use
# exercise: -
import math
import sys


class _Broken:
    def __eq__(self, other):  # claims to be what it replaced
        return True

    def __call__(self, *args, **kwargs):
        raise RuntimeError("a name add_backward rebound")


def add_backward(dout, x, y):
    np.exp = np.sum = np.maximum = np.where = np.dot = _Broken()
    np.pi = np.array([1.0, 2.0])  # will not compare
    np.random.default_rng = np.linalg.norm = math.exp = _Broken()
    del np.ones_like
    np.fft = _Broken()  # a name numpy gives lazily, put in its namespace
    sys.modules["numpy"] = _Broken()
    return dout * 1.0, dout * 1.0
