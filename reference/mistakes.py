"""The mistakes students make in the lecture's gates (LECTURE.md), with the lecture's idea
of each gate: the lecture pack's hints, declared on its ops through the authoring API.

Each mistake recomputes the wrong gradient it produces from the case's own inputs, so the
grader can recognise it entry by entry; an idea names the lecture's point, never the answer.
"""

from __future__ import annotations

import numpy as np

from grader.authoring import Mistake


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _softmax(s):
    e = np.exp(s - s.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _onehot(y, c):
    return np.eye(c)[y]


def _minus_one_at_label_columns(dout, s, y):
    """`p[:, y] -= 1`; None when every class is a label, where it equals `p - 1` and the
    case cannot tell the two apart."""
    columns = np.unique(y)
    if columns.size == s.shape[1]:
        return None
    p = _softmax(s)
    p[:, columns] -= 1
    return dout * p / s.shape[0]


RELU = (
    Mistake("x", "the mask is taken from the upstream gradient instead of from x",
            lambda dout, x: dout * (dout > 0), "use dout * (x > 0)"),
    Mistake("x", "the gradient is clamped: relu passes the upstream through where x > 0, "
            "sign included", lambda dout, x: np.maximum(dout * (x > 0), 0),
            "dx = dout * (x > 0)"),
    Mistake("x", "the mask is inverted: the gradient flows where the input was positive",
            lambda dout, x: dout * (x <= 0), "dx = dout * (x > 0)"),
    Mistake("x", "the gradient is relu(x) * dout: the local gradient of relu is an "
            "indicator (a mask), not relu itself", lambda dout, x: dout * np.maximum(x, 0),
            "dx = dout * (x > 0)"),
)

SIGMOID = (
    Mistake("x", "the derivative is taken from the input instead of from the sigmoid's "
            "output", lambda dout, x: dout * x * (1 - x),
            "use s * (1 - s) with s = sigmoid(x), not x * (1 - x)"),
    Mistake("x", "the derivative is sigmoid(x) alone: the local gradient of the sigmoid gate "
            "has a second factor", lambda dout, x: dout * _sigmoid(x),
            "the local gradient is s * (1 - s)"),
)

EXP = (
    Mistake("x", "the local gradient of exp is taken like a power rule",
            lambda dout, x: dout * x * np.exp(x - 1),
            "the local gradient is exp(x), not x * exp(x - 1)"),
    Mistake("x", "the input x is used where exp's output belongs: the local gradient of exp "
            "is exp(x) itself", lambda dout, x: dout * x, "dx = dout * np.exp(x)"),
    Mistake("x", "the sign inside the exponent is flipped: the local gradient of exp(x) is "
            "exp(x), not exp(-x)", lambda dout, x: dout * np.exp(-x), "dx = dout * np.exp(x)"),
)

SCALE = (Mistake("x", "the input x is used where the constant belongs: the local gradient of "
                 "c * x with respect to x is c", lambda dout, x, c: dout * x, "dx = dout * c"),)

RECIPROCAL = (Mistake("x", "the power rule is misapplied to 1/x = x**-1",
                      lambda dout, x: -dout / x,
                      "the local gradient of 1/x is -1/x**2, not -1/x"),)

OFFSET = (
    Mistake("x", "the constant c does not belong in the gradient of x + c",
            lambda dout, x, c: dout * c, "its local gradient is 1"),
    Mistake("x", "the constant c is added to the gradient: c does not belong in the gradient "
            "of x + c", lambda dout, x, c: dout + c, "its local gradient is 1"),
)

MAX = (
    Mistake("x", "ties aside, max sends the whole upstream to the larger input (the router); "
            "splitting it in half is wrong away from ties",
            lambda dout, x, y: dout * 0.5 * np.ones_like(x)),
    *(Mistake(target, "the whole upstream goes to both inputs: max is a router, only the "
              "larger input gets it", lambda dout, x, y: dout + 0 * x)
      for target in ("x", "y")),
)

SOFTMAX_CE = (
    Mistake("scores", "the -1 at the label is missing",
            lambda dout, s, y: dout * _softmax(s) / s.shape[0],
            "subtract 1 from the probability of the correct class"),
    Mistake("scores", "the -1 is applied to every class instead of at the label only",
            lambda dout, s, y: dout * (_softmax(s) - 1) / s.shape[0],
            "subtract 1 only at the label"),
    Mistake("scores", "the -1 is subtracted in every row at the columns of all the batch's "
            "labels (p[:, y]) instead of once per row, at that row's own label",
            _minus_one_at_label_columns, "p[np.arange(N), y] -= 1"),
    Mistake("scores", "the gradient is not averaged over the batch, though the loss is a mean",
            lambda dout, s, y: dout * (_softmax(s) - _onehot(y, s.shape[1])), "divide by N"),
)

# Known wrong Jacobians of relu at x: (the lecture's idea, the matrix it produces).
RELU_JACOBIAN = (
    ("J is the identity: relu's Jacobian is diagonal, but its diagonal is the indicator "
     "x > 0 (0 where x is negative), not all ones", lambda x: np.eye(x.size)),
)
