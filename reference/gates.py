"""Every gate as a forward and its local backward, side by side (micrograd style).

A backward receives the upstream gradient `dout` (shaped like the output) and the forward's
inputs, and returns dL/d(input) for every differentiable input, in argument order.

Each gate also states the facts a grader needs to build fair test inputs without knowing
anything about grading: the shape signature of its inputs and output, the domain of each
input, and how far an input lies from the gate's kinks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Callable

import numpy as np

Array = np.ndarray


@dataclass(frozen=True)
class Gate:
    """A differentiable gate.

    `inputs` name the array arguments and `shapes` give each one's shape signature: "..." is
    an arbitrary shape shared by every "..." input, letters are named dimensions.
    `domains` says which values are legal ("real", "positive", "nonzero", "label:C").
    `params` name the float arguments that follow the arrays (like `c` in c * x).
    """

    name: str
    formula: str
    forward: Callable[..., Array]
    backward: Callable[..., Array | tuple[Array, ...]]
    inputs: tuple[str, ...]
    shapes: tuple[str, ...]
    output: str
    domains: tuple[str, ...] = ()
    params: tuple[str, ...] = ()
    differentiable: tuple[bool, ...] = ()
    kink_distance: Callable[..., float] | None = None

    def __post_init__(self) -> None:
        n = len(self.inputs)
        if not self.domains:
            object.__setattr__(self, "domains", ("real",) * n)
        if not self.differentiable:
            diff = tuple(not d.startswith("label") for d in self.domains)
            object.__setattr__(self, "differentiable", diff)

    def grads(self, dout: Array, *args, **params) -> tuple[Array, ...]:
        """The backward's result, always as a tuple (one entry per differentiable input)."""
        out = self.backward(dout, *args, **params)
        return out if isinstance(out, tuple) else (out,)


@dataclass(frozen=True)
class Function:
    """A plain function whose whole output is compared (e.g. the ReLU Jacobian)."""

    name: str
    formula: str
    compute: Callable[..., Array]
    inputs: tuple[str, ...]
    shapes: tuple[str, ...]
    output: str
    jacobian_of: str  # the gate whose Jacobian this is, for numerical checking
    domains: tuple[str, ...] = field(default=())


GATES: dict[str, Gate] = {}
FUNCTIONS: dict[str, Function] = {}


def gate(**spec) -> Callable[[Callable], Callable]:
    """Register the decorated forward with the backward given in `spec`."""

    def register(forward: Callable) -> Callable:
        GATES[spec["name"]] = Gate(forward=forward, **spec)
        return forward

    return register


def get_gate(name: str) -> Gate:
    try:
        return GATES[name]
    except KeyError:
        raise KeyError(f"unknown op {name!r}; known ops: {', '.join(sorted(GATES))}") from None


def _sigmoid(x: Array) -> Array:
    # Two branches so that neither exp can overflow.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _log_softmax(scores: Array) -> Array:
    shifted = scores - scores.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


ELEMENTWISE = ("...",)

# ---- binary elementwise --------------------------------------------------------------


@gate(name="add", formula="x + y", inputs=("x", "y"), shapes=ELEMENTWISE * 2, output="...",
      backward=lambda dout, x, y: (dout * np.ones_like(x), dout * np.ones_like(y)))
def add(x, y):
    return x + y


@gate(name="sub", formula="x - y", inputs=("x", "y"), shapes=ELEMENTWISE * 2, output="...",
      backward=lambda dout, x, y: (dout * np.ones_like(x), -dout * np.ones_like(y)))
def sub(x, y):
    return x - y


@gate(name="mul", formula="x * y", inputs=("x", "y"), shapes=ELEMENTWISE * 2, output="...",
      backward=lambda dout, x, y: (dout * y, dout * x))
def mul(x, y):
    return x * y


@gate(name="div", formula="x / y", inputs=("x", "y"), shapes=ELEMENTWISE * 2, output="...",
      domains=("real", "nonzero"),
      backward=lambda dout, x, y: (dout / y, -dout * x / y**2))
def div(x, y):
    return x / y


@gate(name="max", formula="max(x, y)", inputs=("x", "y"), shapes=ELEMENTWISE * 2, output="...",
      backward=lambda dout, x, y: (dout * (x > y), dout * (x < y)),
      kink_distance=lambda x, y: float(np.min(np.abs(x - y), initial=np.inf)))
def maximum(x, y):
    return np.maximum(x, y)


# ---- unary elementwise ---------------------------------------------------------------


@gate(name="neg", formula="-x", inputs=("x",), shapes=ELEMENTWISE, output="...",
      backward=lambda dout, x: -dout * np.ones_like(x))
def neg(x):
    return -x


@gate(name="exp", formula="exp(x)", inputs=("x",), shapes=ELEMENTWISE, output="...",
      backward=lambda dout, x: dout * np.exp(x))
def exp(x):
    return np.exp(x)


@gate(name="log", formula="log(x)", inputs=("x",), shapes=ELEMENTWISE, output="...",
      domains=("positive",), backward=lambda dout, x: dout / x)
def log(x):
    return np.log(x)


@gate(name="reciprocal", formula="1 / x", inputs=("x",), shapes=ELEMENTWISE, output="...",
      domains=("nonzero",), backward=lambda dout, x: -dout / x**2)
def reciprocal(x):
    return 1.0 / x


@gate(name="scale", formula="c * x", inputs=("x",), shapes=ELEMENTWISE, output="...",
      params=("c",), backward=lambda dout, x, c: dout * c * np.ones_like(x))
def scale(x, c):
    return c * x


@gate(name="offset", formula="x + c", inputs=("x",), shapes=ELEMENTWISE, output="...",
      params=("c",), backward=lambda dout, x, c: dout * np.ones_like(x))
def offset(x, c):
    return x + c


@gate(name="square", formula="x ** 2", inputs=("x",), shapes=ELEMENTWISE, output="...",
      backward=lambda dout, x: dout * 2 * x)
def square(x):
    return x**2


@gate(name="pow", formula="x ** p", inputs=("x",), shapes=ELEMENTWISE, output="...",
      domains=("positive",), params=("p",), backward=lambda dout, x, p: dout * p * x ** (p - 1))
def power(x, p):
    return x**p


@gate(name="sigmoid", formula="1 / (1 + exp(-x))", inputs=("x",), shapes=ELEMENTWISE,
      output="...", backward=lambda dout, x: dout * _sigmoid(x) * (1 - _sigmoid(x)))
def sigmoid(x):
    return _sigmoid(x)


@gate(name="tanh", formula="tanh(x)", inputs=("x",), shapes=ELEMENTWISE, output="...",
      backward=lambda dout, x: dout * (1 - np.tanh(x) ** 2))
def tanh(x):
    return np.tanh(x)


@gate(name="relu", formula="max(0, x)", inputs=("x",), shapes=ELEMENTWISE, output="...",
      backward=lambda dout, x: dout * (x > 0),
      kink_distance=lambda x: float(np.min(np.abs(x), initial=np.inf)))
def relu(x):
    return np.maximum(0.0, x)


# ---- reductions and layers -----------------------------------------------------------


@gate(name="sum", formula="sum(x)", inputs=("x",), shapes=ELEMENTWISE, output="",
      backward=lambda dout, x: dout * np.ones_like(x))
def total(x):
    return np.sum(x)


@gate(name="mean", formula="mean(x)", inputs=("x",), shapes=ELEMENTWISE, output="",
      backward=lambda dout, x: dout * np.ones_like(x) / x.size)
def mean(x):
    return np.mean(x)


@gate(name="matmul", formula="x @ w", inputs=("x", "w"), shapes=("N D", "D M"), output="N M",
      backward=lambda dout, x, w: (dout @ w.T, x.T @ dout))
def matmul(x, w):
    return x @ w


@gate(name="linear", formula="x @ w + b", inputs=("x", "w", "b"), shapes=("N D", "D M", "M"),
      output="N M", backward=lambda dout, x, w, b: (dout @ w.T, x.T @ dout, dout.sum(axis=0)))
def linear(x, w, b):
    return x @ w + b


@gate(name="mse", formula="mean((x - t) ** 2)", inputs=("x", "t"), shapes=ELEMENTWISE * 2,
      output="", backward=lambda dout, x, t: (dout * 2 * (x - t) / x.size,
                                              -dout * 2 * (x - t) / x.size))
def mse(x, t):
    return np.mean((x - t) ** 2)


def _softmax_ce_backward(dout, scores, y):
    n = scores.shape[0]
    dscores = np.exp(_log_softmax(scores))
    dscores[np.arange(n), y] -= 1.0
    return dout * dscores / n


@gate(name="softmax_ce", formula="mean_i -log softmax(scores_i)[y_i]", inputs=("scores", "y"),
      shapes=("N C", "N"), output="", domains=("real", "label:C"),
      backward=_softmax_ce_backward)
def softmax_ce(scores, y):
    return -np.mean(_log_softmax(scores)[np.arange(scores.shape[0]), y])


# ---- plain functions -----------------------------------------------------------------


def relu_jacobian(x: Array) -> Array:
    """d relu(x) / dx for a 1-D x: a diagonal indicator, never formed in practice."""
    return np.diag((x > 0).astype(float))


FUNCTIONS["relu_jacobian"] = Function(
    name="relu_jacobian", formula="d relu(x) / dx", compute=relu_jacobian, inputs=("x",),
    shapes=("n",), output="n n", jacobian_of="relu")
