"""Every gate of the lecture as a forward and its local backward, side by side (micrograd
style), declared through the grader's authoring API like any course pack's ops.

A backward receives the upstream gradient `dout` (shaped like the output) and the forward's
inputs, and returns dL/d(input) for every differentiable input, in argument order. Each gate
also states what a fair case needs (shapes, domains, kinks) and the mistakes students make
in it (`reference.mistakes`).
"""

from __future__ import annotations

import numpy as np

from grader.authoring import Factor, Ops
from reference import mistakes

Array = np.ndarray
OPS = Ops()
gate = OPS.op


def _sigmoid(x: Array) -> Array:
    # Two branches so that neither exp can overflow.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _log_softmax(scores: Array) -> Array:
    shifted = scores - scores.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


# ---- binary elementwise --------------------------------------------------------------


@gate(name="add",
      idea="an add gate distributes: each input gets the upstream unchanged",
      formula="x + y", inputs={"x": "...", "y": "..."},
      backward=lambda dout, x, y: (dout * np.ones_like(x), dout * np.ones_like(y)))
def add(x, y):
    return x + y


@gate(name="sub", formula="x - y", inputs={"x": "...", "y": "..."},
      backward=lambda dout, x, y: (dout * np.ones_like(x), -dout * np.ones_like(y)))
def sub(x, y):
    return x - y


@gate(name="mul",
      idea="a multiply gate swaps: each input gets the upstream times the other input's "
           "forward value",
      swap_idea=("the multiply gate swaps its inputs: each input's gradient is the upstream "
                 "times the other input", "dx = dout * y and dy = dout * x"),
      formula="x * y", inputs={"x": "...", "y": "..."},
      backward=lambda dout, x, y: (dout * y, dout * x))
def mul(x, y):
    return x * y


@gate(name="div",
      idea="x/y's local gradients are 1/y and -x/y² at the forward values",
      formula="x / y", inputs={"x": "...", "y": "..."},
      domains={"y": "nonzero"},
      backward=lambda dout, x, y: (dout / y, -dout * x / y**2))
def div(x, y):
    return x / y


@gate(name="max",
      idea="a max gate routes: the larger input gets the whole upstream, the other 0",
      swap_idea=("the gradient is routed to the loser: max sends dout to the larger input", ""),
      mistakes=mistakes.MAX, formula="max(x, y)", inputs={"x": "...", "y": "..."},
      backward=lambda dout, x, y: (dout * (x > y), dout * (x < y)),
      kinks=lambda x, y: float(np.min(np.abs(x - y), initial=np.inf)))
def maximum(x, y):
    return np.maximum(x, y)


# ---- unary elementwise ---------------------------------------------------------------


@gate(name="neg", formula="-x", inputs={"x": "..."},
      backward=lambda dout, x: -dout * np.ones_like(x))
def neg(x):
    return -x


@gate(name="exp",
      idea="exp's local gradient is its own output", mistakes=mistakes.EXP,
      formula="exp(x)", inputs={"x": "..."},
      backward=lambda dout, x: dout * np.exp(x))
def exp(x):
    return np.exp(x)


@gate(name="log", formula="log(x)", inputs={"x": "..."},
      domains={"x": "positive"}, backward=lambda dout, x: dout / x)
def log(x):
    return np.log(x)


@gate(name="reciprocal",
      idea="1/x's local gradient is -1/x² at the forward value",
      mistakes=mistakes.RECIPROCAL, formula="1 / x", inputs={"x": "..."},
      domains={"x": "nonzero"}, backward=lambda dout, x: -dout / x**2)
def reciprocal(x):
    return 1.0 / x


@gate(name="scale",
      idea="a scale gate multiplies the upstream by its constant", mistakes=mistakes.SCALE,
      formula="c * x", inputs={"x": "..."},
      params={"c": Factor()}, backward=lambda dout, x, c: dout * c * np.ones_like(x))
def scale(x, c):
    return c * x


@gate(name="offset",
      idea="an offset gate passes the upstream through unchanged", mistakes=mistakes.OFFSET,
      formula="x + c", inputs={"x": "..."},
      params={"c": Factor()}, backward=lambda dout, x, c: dout * np.ones_like(x))
def offset(x, c):
    return x + c


@gate(name="square",
      idea="x²'s local gradient is 2x at the forward value",
      formula="x ** 2", inputs={"x": "..."},
      backward=lambda dout, x: dout * 2 * x)
def square(x):
    return x**2


@gate(name="pow", formula="x ** p", inputs={"x": "..."},
      domains={"x": "positive"}, params={"p": Factor()},
      backward=lambda dout, x, p: dout * p * x ** (p - 1))
def power(x, p):
    return x**p


@gate(name="sigmoid",
      idea="the sigmoid's local gradient is s(1 - s), from its output s",
      mistakes=mistakes.SIGMOID,
      overflow=("exp overflowed at a large |x|; compute the sigmoid so that exp never gets a "
                "large positive argument (1 / (1 + exp(-x)) does not)"),
      formula="1 / (1 + exp(-x))", inputs={"x": "..."},
      backward=lambda dout, x: dout * _sigmoid(x) * (1 - _sigmoid(x)))
def sigmoid(x):
    return _sigmoid(x)


@gate(name="tanh", formula="tanh(x)", inputs={"x": "..."},
      backward=lambda dout, x: dout * (1 - np.tanh(x) ** 2))
def tanh(x):
    return np.tanh(x)


@gate(name="relu",
      idea="relu passes the upstream where its input is positive, 0 elsewhere",
      mistakes=mistakes.RELU, formula="max(0, x)", inputs={"x": "..."},
      backward=lambda dout, x: dout * (x > 0),
      kinks=lambda x: float(np.min(np.abs(x), initial=np.inf)))
def relu(x):
    return np.maximum(0.0, x)


# ---- reductions and layers -----------------------------------------------------------


@gate(name="sum", formula="sum(x)", inputs={"x": "..."}, output="",
      backward=lambda dout, x: dout * np.ones_like(x))
def total(x):
    return np.sum(x)


@gate(name="mean", formula="mean(x)", inputs={"x": "..."}, output="",
      backward=lambda dout, x: dout * np.ones_like(x) / x.size)
def mean(x):
    return np.mean(x)


@gate(name="matmul",
      idea="x @ w sends dout @ w.T to x and x.T @ dout to w",
      formula="x @ w", inputs={"x": "N D", "w": "D M"}, output="N M",
      backward=lambda dout, x, w: (dout @ w.T, x.T @ dout))
def matmul(x, w):
    return x @ w


@gate(name="linear",
      batch="N",
      swap_idea=("dx and dw use the wrong factors: each is the upstream times the other "
                 "operand, transposed so that the shapes fit",
                 "dx = dout @ w.T, dw = x.T @ dout"),
      matmul=("each gradient has the shape of its own input, so check which operand needs a "
              "transpose (.T) and on which side it goes"),
      formula="x @ w + b", inputs={"x": "N D", "w": "D M", "b": "M"}, output="N M",
      backward=lambda dout, x, w, b: (dout @ w.T, x.T @ dout, dout.sum(axis=0)))
def linear(x, w, b):
    return x @ w + b


@gate(name="mse",
      formula="mean((x - t) ** 2)", inputs={"x": "...", "t": "..."}, output="",
      backward=lambda dout, x, t: (dout * 2 * (x - t) / x.size, -dout * 2 * (x - t) / x.size))
def mse(x, t):
    return np.mean((x - t) ** 2)


def _softmax_ce_backward(dout, scores, y):
    n = scores.shape[0]
    dscores = np.exp(_log_softmax(scores))
    dscores[np.arange(n), y] -= 1.0
    return dout * dscores / n


@gate(name="softmax_ce",
      batch="N", mistakes=mistakes.SOFTMAX_CE,
      overflow=("exp overflowed (inf) or a row's sum underflowed (0 / 0); shift the scores "
                "by each row's own maximum first: one maximum for the whole batch leaves "
                "rows far below it at exp(-2000) = 0"),
      formula="mean_i -log softmax(scores_i)[y_i]", inputs={"scores": "N C", "y": "N"},
      output="", domains={"y": "label:C"},
      backward=_softmax_ce_backward)
def softmax_ce(scores, y):
    return -np.mean(_log_softmax(scores)[np.arange(scores.shape[0]), y])


# ---- plain functions -----------------------------------------------------------------


@OPS.function(inputs={"x": "n"}, output="n n", jacobian_of="relu", formula="d relu(x) / dx",
              mistakes=mistakes.RELU_JACOBIAN)
def relu_jacobian(x: Array) -> Array:
    """d relu(x) / dx for a 1-D x: a diagonal indicator, never formed in practice."""
    return np.diag((x > 0).astype(float))
