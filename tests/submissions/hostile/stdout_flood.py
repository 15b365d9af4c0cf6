# threat: floods stdout and stderr, then answers correctly
# exercise: -
import sys


def offset_backward(dout, x, c):
    for _ in range(200):
        sys.stdout.write("x" * 50_000)
        sys.stderr.write("y" * 50_000)
    return dout * np.ones_like(x)
