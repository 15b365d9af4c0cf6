# threat: unbounded recursion with the limit lifted
# exercise: add
# status: (error|failed)
# message: (crashed with SIGSEGV|RecursionError|timed out)
import sys


def _deeper(n):
    return _deeper(n + 1) + 1


def add_backward(dout, x, y):
    sys.setrecursionlimit(10**8)
    return _deeper(0)
