"""The pack's ops: each reference forward with its backward, and what a fair case needs."""

import numpy as np

from grader.authoring import FloatRange, Mistake, Ops

OPS = Ops()


@OPS.op(inputs={"x": "..."}, params={"alpha": FloatRange(0.05, 0.3)},
        formula="x if x > 0 else alpha * x",
        kinks=lambda x, alpha: float(np.min(np.abs(x), initial=np.inf)),
        backward=lambda dout, x, alpha: dout * np.where(x > 0, 1.0, alpha),
        mistakes=[Mistake("x", "the negative side passes the upstream unchanged: there the "
                               "local gradient is alpha, not 1",
                          lambda dout, x, alpha: dout * np.where(x > 0, 1.0, 1.0),
                          "dx = dout * np.where(x > 0, 1, alpha)")])
def leaky_relu(x, alpha):
    return np.where(x > 0, x, alpha * x)
