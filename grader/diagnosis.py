"""Match a wrong answer against the mistakes students make (LECTURE.md) and say which.

Write s for the student's gradient and t for the true one. Generic signatures come first
(shape slips, non-finite values, swapped outputs, a forgotten upstream, a pure scale error),
then each gate's known mistakes are recomputed from the case's own inputs and compared
entry by entry. When nothing matches, the hint says where the error is and how large.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from collections.abc import Callable

import numpy as np

MATCH_RTOL = 1e-6  # a signature matches when it explains s to float rounding


@dataclass
class Context:
    """What the parent knows about one case."""

    gate: str
    input_names: tuple[str, ...]
    inputs: list[np.ndarray]
    params: list[float]
    dout: np.ndarray
    truths: list[np.ndarray]  # the true gradient of each differentiable input
    reveal: str = "mistakes"  # the course's policy: formulas only with formula/answers

    def explain(self, idea: str, formula: str) -> str:
        """The mistake's lecture idea, and the right formula (if any) only if the course
        says so."""
        return f"{idea}: {formula}" if formula and self.reveal in ("formula", "answers") \
            else idea


def _same(a: np.ndarray, b: np.ndarray, rtol: float = MATCH_RTOL) -> bool:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or not np.all(np.isfinite(a)):
        return False
    scale = max(float(np.max(np.abs(b), initial=0.0)), 1e-300)
    return float(np.max(np.abs(a - b), initial=0.0)) <= rtol * scale + 1e-12


def shape_hint(name: str, got: tuple, want: tuple, input_name: str) -> str:
    base = f"{name} has shape {got}; expected {want}, the shape of {input_name}"
    if len(got) == 2 and got == want[::-1] and got != want:
        return f"{base}: it looks transposed"
    if len(want) == 2 and want[0] == want[1] and got == want[:1]:
        return f"{base}: it looks like the diagonal alone; build the full matrix (np.diag)"
    if got == (1,) + want:
        return f"{base}: sum over the batch without keepdims (or drop the leading axis)"
    if got == () and want:
        return f"{base}: a single number where one gradient entry per element is needed"
    if want and got == want[:-1] + (1,) or (len(want) == 1 and got == (1,)):
        return f"{base}: do not sum over every axis, keep one entry per element of {input_name}"
    if len(want) == 1 and len(got) == 1:
        return f"{base}: it looks summed over the wrong axis"
    if got == (1,) + want[1:] or got == want[:1]:
        return f"{base}: it looks summed over the wrong axis"
    return base


BATCHED = ("linear", "softmax_ce")  # gates whose first axis is a batch


def _factor_name(alpha: float, context: Context) -> str | None:
    """Name a scale factor: -1, 1/2, 2, N, 1/N, or 1/dout (forgotten upstream)."""
    if context.dout.size == 1 and abs(float(context.dout.reshape(())) * alpha - 1) < 1e-6:
        return ("ignores the upstream gradient: multiply the local gradient by dout "
                f"(here dout = {float(context.dout.reshape(())):.3g})")
    if abs(alpha + 1) < 1e-6:
        return "has the wrong sign: check the sign of the local gradient"
    for p in context.params:
        if abs(alpha - p) < 1e-9 * abs(p):
            return f"is c = {p:.4g} times the right value: c does not belong in this gradient"
        if abs(alpha * p - 1) < 1e-9:
            return f"is 1/c of the right value (c = {p:.4g}): multiply by c"
    # N only where there is a batch to sum or average over (its first axis); elsewhere a
    # factor equal to some size by chance (1/2 with an axis of 2) is just a factor.
    batched = context.gate in BATCHED and np.ndim(context.inputs[0]) > 0
    sizes = {int(np.shape(context.inputs[0])[0])} - {0, 1} if batched else set()
    for n in sorted(sizes):
        if abs(alpha - 1 / n) < 1e-9 * n:
            return (f"is 1/{n} of the right value: an extra division by N = {n} "
                    "(sum over the batch, do not average)")
        if abs(alpha - n) < 1e-9 * n:
            return f"is {n} times the right value: divide by N = {n} (the loss is a mean)"
    frac = Fraction(alpha).limit_denominator(8)
    if abs(float(frac) - alpha) < 1e-9 and frac not in (0, 1):
        return f"is {frac} times the right value: a constant factor is off"
    return f"is {alpha:.4g} times the right value: a constant factor is off"


SWAPS = {  # (the lecture's idea, the formula)
    "mul": ("the multiply gate swaps its inputs: each input's gradient is the upstream times "
            "the other input", "dx = dout * y and dy = dout * x"),
    "max": ("the gradient is routed to the loser: max sends dout to the larger input", ""),
    "linear": ("dx and dw use the wrong factors: each is the upstream times the other "
               "operand, transposed so that the shapes fit", "dx = dout @ w.T, dw = x.T @ dout"),
}


def _generic(name: str, s: np.ndarray, t: np.ndarray, context: Context,
             other_names: list[str]) -> str | None:
    if s.size < 2:
        return None  # one number is a multiple of any other: no evidence of a pattern
    if not np.any(s) and np.any(t):
        return (f"your {name} is zero everywhere: no gradient reaches {name[1:]} (every "
                "input of a gate gets its own gradient, upstream times local)")
    for other, truth in zip(other_names, context.truths):
        if other != name and truth.shape == s.shape and not _same(truth, t) and _same(s, truth):
            why = context.explain(*SWAPS.get(context.gate, (
                "the gradients of two inputs are swapped", "")))
            return f"your {name} equals the true {other} at every entry: {why}"
    if s.shape == context.dout.shape and s.size > 1:
        with np.errstate(divide="ignore", invalid="ignore"):
            if np.all(context.dout != 0) and _same(s * context.dout, t):
                return (f"your {name} ignores the upstream gradient: multiply the local "
                        "gradient by dout")
    tt = float(np.sum(t * t))
    if tt > 0:
        alpha = float(np.sum(s * t)) / tt
        if abs(alpha - 1) > 1e-6 and alpha != 0 and _same(s, alpha * t, 1e-6):
            return f"your {name} {_factor_name(alpha, context)}"
    return None


# The lecture's pattern of each op in a worked example's graph.
GATE_IDEAS = {
    "add": "an add gate distributes: each input gets the upstream unchanged",
    "mul": "a multiply gate swaps: each input gets the upstream times the other input's "
           "forward value",
    "max": "a max gate routes: the larger input gets the whole upstream, the other 0",
    "scale": "a scale gate multiplies the upstream by its constant",
    "offset": "an offset gate passes the upstream through unchanged",
    "exp": "exp's local gradient is its own output",
    "reciprocal": "1/x's local gradient is -1/x² at the forward value",
    "sigmoid": "the sigmoid's local gradient is s(1 - s), from its output s",
    "relu": "relu passes the upstream where its input is positive, 0 elsewhere",
    "square": "x²'s local gradient is 2x at the forward value",
    "div": "x/y's local gradients are 1/y and -x/y² at the forward values",
    "matmul": "x @ w sends dout @ w.T to x and x.T @ dout to w",
}


# What a matrix product whose shapes do not chain means in a gate that uses `@`.
MATMUL_ADVICE = {
    "linear": "each gradient has the shape of its own input, so check which operand needs a "
              "transpose (.T) and on which side it goes",
}


# Known mistakes per gate: (the lecture's idea, the right formula, the input whose
# gradient it concerns, the wrong gradient it produces).
Mistake = tuple[str, str, str, Callable[..., np.ndarray | None]]


def _relu_mistakes() -> list[Mistake]:
    return [
        ("the mask is taken from the upstream gradient instead of from x",
         "use dout * (x > 0)", "x", lambda dout, x: dout * (dout > 0)),
        ("the gradient is clamped: relu passes the upstream through where x > 0, sign "
         "included", "dx = dout * (x > 0)", "x", lambda dout, x: np.maximum(dout * (x > 0), 0)),
        ("the mask is inverted: the gradient flows where the input was positive",
         "dx = dout * (x > 0)", "x", lambda dout, x: dout * (x <= 0)),
        ("the gradient is relu(x) * dout: the local gradient of relu is an indicator (a "
         "mask), not relu itself", "dx = dout * (x > 0)", "x",
         lambda dout, x: dout * np.maximum(x, 0)),
    ]


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _minus_one_at_label_columns(dout, s, y):
    """`p[:, y] -= 1`; None when every class is a label, where it equals `p - 1` and the
    case cannot tell the two apart."""
    columns = np.unique(y)
    if columns.size == s.shape[1]:
        return None
    p = _softmax(s)
    p[:, columns] -= 1
    return dout * p / s.shape[0]


MISTAKES: dict[str, list[Mistake]] = {
    "relu": _relu_mistakes(),
    "sigmoid": [
        ("the derivative is taken from the input instead of from the sigmoid's output",
         "use s * (1 - s) with s = sigmoid(x), not x * (1 - x)", "x",
         lambda dout, x: dout * x * (1 - x)),
        ("the derivative is sigmoid(x) alone: the local gradient of the sigmoid gate has a "
         "second factor", "the local gradient is s * (1 - s)", "x",
         lambda dout, x: dout * _sigmoid(x)),
    ],
    "exp": [
        ("the local gradient of exp is taken like a power rule",
         "the local gradient is exp(x), not x * exp(x - 1)", "x",
         lambda dout, x: dout * x * np.exp(x - 1)),
        ("the input x is used where exp's output belongs: the local gradient of exp is "
         "exp(x) itself", "dx = dout * np.exp(x)", "x", lambda dout, x: dout * x),
        ("the sign inside the exponent is flipped: the local gradient of exp(x) is exp(x), "
         "not exp(-x)", "dx = dout * np.exp(x)", "x", lambda dout, x: dout * np.exp(-x)),
    ],
    "scale": [("the input x is used where the constant belongs: the local gradient of c * x "
               "with respect to x is c", "dx = dout * c", "x", lambda dout, x, c: dout * x)],
    "reciprocal": [
        ("the power rule is misapplied to 1/x = x**-1", "the local gradient of 1/x is "
         "-1/x**2, not -1/x", "x", lambda dout, x: -dout / x),
    ],
    "offset": [("the constant c does not belong in the gradient of x + c",
                "its local gradient is 1", "x", lambda dout, x, c: dout * c),
               ("the constant c is added to the gradient: c does not belong in the "
                "gradient of x + c", "its local gradient is 1", "x",
                lambda dout, x, c: dout + c)],
    "max": [
        ("ties aside, max sends the whole upstream to the larger input (the router); "
         "splitting it in half is wrong away from ties", "", "x",
         lambda dout, x, y: dout * 0.5 * np.ones_like(x)),
        *[("the whole upstream goes to both inputs: max is a router, only the larger input "
           "gets it", "", target, lambda dout, x, y: dout + 0 * x) for target in ("x", "y")],
    ],
    "softmax_ce": [
        ("the -1 at the label is missing", "subtract 1 from the probability of the correct "
         "class", "scores", lambda dout, s, y: dout * _softmax(s) / s.shape[0]),
        ("the -1 is applied to every class instead of at the label only",
         "subtract 1 only at the label", "scores",
         lambda dout, s, y: dout * (_softmax(s) - 1) / s.shape[0]),
        ("the -1 is subtracted in every row at the columns of all the batch's labels "
         "(p[:, y]) instead of once per row, at that row's own label",
         "p[np.arange(N), y] -= 1", "scores", _minus_one_at_label_columns),
        ("the gradient is not averaged over the batch, though the loss is a mean",
         "divide by N", "scores",
         lambda dout, s, y: dout * (_softmax(s) - _onehot(y, s.shape[1]))),
    ],
}


# Why a gate's gradient goes non-finite on large inputs, and the lecture's way out.
OVERFLOWS = {
    "softmax_ce": "exp overflowed (inf) or a row's sum underflowed (0 / 0); shift the scores "
                  "by each row's own maximum first: one maximum for the whole batch leaves "
                  "rows far below it at exp(-2000) = 0",
    "sigmoid": "exp overflowed at a large |x|; compute the sigmoid so that exp never gets a "
               "large positive argument (1 / (1 + exp(-x)) does not)",
}


def _softmax(s):
    e = np.exp(s - s.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _onehot(y, c):
    return np.eye(c)[y]


def _known(name: str, input_name: str, s: np.ndarray, context: Context) -> str | None:
    if s.size < 2:
        return None  # one number matches many mistakes by chance
    for idea, formula, target, wrong in MISTAKES.get(context.gate, []):
        if target != input_name:
            continue
        with np.errstate(all="ignore"):
            candidate = wrong(context.dout, *context.inputs, *context.params)
        if candidate is not None and _same(s, candidate):
            return f"your {name} matches a known mistake: {context.explain(idea, formula)}"
    return None


def where_wrong(name: str, s: np.ndarray, t: np.ndarray, tol: np.ndarray) -> str:
    """No signature matched: say which entries are wrong and by how much."""
    wrong = np.abs(s - t) > tol
    count, total = int(wrong.sum()), wrong.size
    err = np.abs(s - t)
    idx = np.unravel_index(int(np.argmax(err)), err.shape) if err.ndim else ()
    where = f" at index {tuple(int(i) for i in idx)}" if idx else ""
    return (f"{name} is wrong at {count} of {total} entries; the largest error is "
            f"{float(err[idx]):.3g}{where} (expected {float(t[idx]):.4g}, got "
            f"{float(s[idx]):.4g})")


def diagnose(name: str, input_name: str, s: np.ndarray, t: np.ndarray, tol: np.ndarray,
             context: Context, output_names: list[str]) -> str:
    """The most likely explanation of a wrong gradient s (shapes already match)."""
    if not np.all(np.isfinite(s)):
        bad = int(np.sum(~np.isfinite(s)))
        advice = OVERFLOWS.get(context.gate)
        return f"{name} has {bad} nan/inf entries" + (f": {advice}" if advice else "")
    return (_known(name, input_name, s, context) or _part_of_batch(name, input_name, s, context)
            or _generic(name, s, t, context, output_names) or where_wrong(name, s, t, tol))


def _part_of_batch(name: str, input_name: str, s: np.ndarray, context: Context) -> str | None:
    """A bias gradient summed over some rows of the batch only (the first or the last k)."""
    if context.gate != "linear" or input_name != "b" or context.dout.ndim != 2:
        return None
    n = context.dout.shape[0]
    for k in range(1, n):
        for rows, which in ((context.dout[:k], "first"), (context.dout[n - k:], "last")):
            if _same(s, rows.sum(axis=0)):
                return (f"your {name} sums only the {which} {k} of the {n} rows of the "
                        "upstream gradient: the bias is used by every row of the batch")
    return None


# Known wrong Jacobians of relu at x: (the lecture's idea, the matrix it produces).
JACOBIAN_MISTAKES = [
    ("J is the identity: relu's Jacobian is diagonal, but its diagonal is the indicator "
     "x > 0 (0 where x is negative), not all ones", lambda x: np.eye(x.size)),
]


def jacobian_hint(s: np.ndarray, t: np.ndarray, tol: np.ndarray, x: np.ndarray) -> str:
    """What is wrong with the Jacobian of an elementwise gate (diagonal by nature)."""
    for idea, wrong in JACOBIAN_MISTAKES:
        if s.size > 1 and _same(s, wrong(x)):
            return idea
    off = ~np.eye(t.shape[0], dtype=bool) if t.ndim == 2 and t.shape[0] == t.shape[1] else None
    if off is not None and not np.any(t[off]) and np.any(s[off]):
        count = int(np.count_nonzero(s[off]))
        return (f"J has {count} nonzero entries off the diagonal: an elementwise gate's output "
                "i depends on input i alone, so its Jacobian is diagonal")
    return where_wrong("J", s, t, tol)
