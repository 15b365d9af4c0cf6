"""Match a wrong answer against the mistakes students make (LECTURE.md) and say which.

Write s for the student's gradient and t for the true one. Generic signatures come first
(shape slips, non-finite values, swapped outputs, a forgotten upstream, a pure scale error),
then each gate's known mistakes are recomputed from the case's own inputs and compared
entry by entry. When nothing matches, the hint says where the error is and how large.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from grader.authoring import Op

FORWARD_OUTPUT = "out"  # a Mistake about the forward's output names this
MATCH_RTOL = 1e-6  # a signature matches when it explains s to float rounding


@dataclass
class Context:
    """What the parent knows about one case of an op."""

    op: Op
    inputs: list[np.ndarray]
    params: list
    dout: np.ndarray
    truths: list[np.ndarray]  # the true value of each output
    reveal: str = "mistakes"  # the course's policy: formulas only with formula/answers
    names: tuple[str, ...] = ()  # each output's name (dx, ...)
    forward: bool = False  # the outputs are a forward's (its output, its state)

    @property
    def gate(self) -> str:
        return self.op.name

    def explain(self, idea: str, formula: str) -> str:
        """The mistake's lecture idea, and the right formula (if any) only if the course
        says so."""
        return f"{idea}: {formula}" if formula and self.reveal in ("formula", "answers") \
            else idea

    def backward(self, dout: np.ndarray, inputs: list | None = None) -> list[np.ndarray]:
        """The op's true gradients for another upstream or other inputs (with the loss
        first, for a loss-convention op): what a transform of the case gives."""
        inputs = self.inputs if inputs is None else inputs
        with np.errstate(all="ignore"):
            grads = [np.asarray(g, dtype=float) for g in
                     self.op.grads(dout, *inputs, *copy.deepcopy(self.params))]
        if self.op.convention == "loss":
            grads.insert(0, self.truths[0])
        return grads


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
    if got and want and len(got) != len(want) and np.prod(got) == np.prod(want):
        return (f"{base}: it has the right number of entries; reshape it to the shape of "
                f"{input_name}")
    extra = [g - w for g, w in zip(got, want)] if len(got) == len(want) else []
    if extra and any(extra) and all(e in (0, extra[-1]) and e % 2 == 0 and e > 0 or e == 0
                                    for e in extra):
        return (f"{base}: it is {extra[-1] // 2} larger on each side, as if padded: crop the "
                "padding off before returning it")
    return base


def batch_size(context: Context) -> int | None:
    """N, the size of the op's declared batch dimension in this case."""
    op = context.op
    if op.batch is None:
        return None
    for signature, value in zip(op.shapes, context.inputs):
        letters = signature.split()
        if op.batch in letters and "..." not in letters and np.ndim(value) == len(letters):
            return int(np.shape(value)[letters.index(op.batch)])
    return None


def _factor_name(alpha: float, context: Context) -> str | None:
    """Name a scale factor: -1, 1/2, 2, N, 1/N, a parameter, or 1/dout (forgotten
    upstream)."""
    if context.dout.size == 1 and abs(float(context.dout.reshape(())) * alpha - 1) < 1e-6 \
            and context.op.convention != "loss" and not context.forward:
        return ("ignores the upstream gradient: multiply the local gradient by dout "
                f"(here dout = {float(context.dout.reshape(())):.3g})")
    if abs(alpha + 1) < 1e-6:
        return "has the wrong sign: check the sign of the local gradient"
    for name, p, member in _numbers(context):
        if abs(alpha - p) < 1e-9 * abs(p):
            return (f"is {name} = {p:.4g} times the right value: " +
                    (f"check where {name} enters" if member else
                     f"{name} does not belong in this gradient"))
        if abs(alpha * p - 1) < 1e-9:
            return (f"is 1/{name} of the right value ({name} = {p:.4g}): " +
                    (f"check where {name} enters" if member else f"multiply by {name}"))
    # N only where the op declares a batch to sum or average over; elsewhere a factor
    # equal to some size by chance (1/2 with an axis of 2) is just a factor.
    n = batch_size(context)
    if n and n > 1:
        if abs(alpha - 1 / n) < 1e-9 * n:
            return (f"is 1/{n} of the right value: an extra division by N = {n} "
                    "(sum over the batch, do not average)")
        if abs(alpha - n) < 1e-9 * n:
            return f"is {n} times the right value: divide by N = {n} (the loss is a mean)"
    from fractions import Fraction  # only for a factor with no name: rare

    frac = Fraction(alpha).limit_denominator(8)
    if abs(float(frac) - alpha) < 1e-9 and frac not in (0, 1):
        return f"is {frac} times the right value: a constant factor is off"
    return f"is {alpha:.4g} times the right value: a constant factor is off"


def _numbers(context: Context) -> list[tuple[str, float, bool]]:
    """The case's numeric parameters (a dict parameter's entries too, marked as members),
    but 0 and ±1, which explain nothing."""
    found = []
    for name, value in zip(context.op.param_names, context.params):
        items = value.items() if isinstance(value, dict) else [(name, value)]
        for key, number in items:
            if isinstance(number, (int, float)) and not isinstance(number, bool) and \
                    number not in (0, 1, -1):
                found.append((key, float(number), isinstance(value, dict)))
    return found


def _generic(name: str, s: np.ndarray, t: np.ndarray, context: Context,
             other_names: list[str]) -> list[str]:
    """Every generic explanation that fits: zeros, swapped outputs, a transform of the case,
    a constant factor."""
    if s.size < 2:
        return []  # one number is a multiple of any other: no evidence of a pattern
    if context.forward:
        return _factor(name, s, t, context)
    if not np.any(s) and np.any(t):
        return [f"your {name} is zero everywhere: no gradient reaches {name[1:]} (every "
                "input of a gate gets its own gradient, upstream times local)"]
    found = []
    for other, truth in zip(other_names, context.truths):
        if other != name and truth.shape == s.shape and not _same(truth, t) and _same(s, truth):
            why = context.explain(*(context.op.swap_idea or (
                "the gradients of two inputs are swapped", "")))
            found.append(f"your {name} equals the true {other} at every entry: {why}")
    return found + _transformed(name, s, t, context, other_names) + _factor(name, s, t, context)


def _factor(name: str, s: np.ndarray, t: np.ndarray, context: Context) -> list[str]:
    """s is the truth times a constant: which one."""
    tt = float(np.sum(t * t))
    if tt > 0:
        alpha = float(np.sum(s * t)) / tt
        if abs(alpha - 1) > 1e-6 and alpha != 0 and _same(s, alpha * t, 1e-6):
            return [f"your {name} {_factor_name(alpha, context)}"]
    return []


def _transformed(name: str, s: np.ndarray, t: np.ndarray, context: Context,
                 names: list[str]) -> list[str]:
    """The true backward of a transformed case, for any op: the upstream left out, the
    mask of a kinked op taken from the upstream, part of the batch, a missing path."""
    k = names.index(name) if name in names else None
    if k is None or context.op.convention == "loss" and k == 0:
        return []
    found = []
    dout = np.asarray(context.dout, dtype=float)
    if dout.size > 1 and not np.all(dout == 1):
        ones = context.backward(np.ones_like(dout))[k]
        if _same(s, ones) and not _same(ones, t):
            found.append(f"your {name} ignores the upstream gradient: multiply the local "
                         "gradient by dout")
    if context.op.kinks is not None and dout.size > 1:
        swapped = [dout if np.shape(x) == dout.shape and d.differentiable else x
                   for x, d in zip(context.inputs, context.op.domains)]
        masked = context.backward(dout, swapped)[k]
        if _same(s, masked) and not _same(masked, t):
            found.append(f"your {name} takes its mask from the upstream gradient instead of "
                         "from the inputs: which entries pass depends on the forward's inputs")
    return found + _part_of_batch(name, s, context, k) + _missing_term(name, s, t, context, k) \
        + _overwritten(name, s, t, context, k)


OVERWRITE_MAX = 400  # upstream entries: one reference backward each


def _overwritten(name: str, s: np.ndarray, t: np.ndarray, context: Context,
                 k: int) -> list[str]:
    """`=` where `+=` belongs: each upstream entry's contribution (the backward of that
    entry alone) written over the earlier ones, in the usual loop order (row-major), where
    several entries of the output use the same input entry (overlapping windows)."""
    dout = np.asarray(context.dout, dtype=float)
    if not 2 <= dout.size <= OVERWRITE_MAX or np.shape(s) == dout.shape and \
            context.op.elementwise:
        return []
    written = None
    for j in np.flatnonzero(dout):
        alone = np.zeros_like(dout)
        alone.flat[j] = dout.flat[j]
        part = context.backward(alone)[k]
        written = np.zeros_like(part) if written is None else written
        covered = part != 0
        written[covered] = part[covered]
    if written is None or _same(written, t) or not _same(s, written):
        return []
    return [f"your {name} keeps only the last contribution where several outputs use the "
            "same input entry (overlapping windows): add them up with `+=` instead of "
            "assigning with `=`"]


def _part_of_batch(name: str, s: np.ndarray, context: Context, k: int) -> list[str]:
    """A gradient summed over some rows of the batch only (the first or the last k)."""
    n = batch_size(context)
    dout = context.dout
    if not n or dout.ndim < 1 or dout.shape[0] != n or s.shape[:1] == (n,):
        return []
    for rows in range(1, n):
        for keep, which in ((slice(0, rows), "first"), (slice(n - rows, n), "last")):
            partial = np.zeros_like(dout)
            partial[keep] = dout[keep]
            if _same(s, context.backward(partial)[k]):
                return [f"your {name} sums only the {which} {rows} of the {n} rows of the "
                        f"upstream gradient: {name[1:]} is used by every row of the batch"]
    return []


def _missing_term(name: str, s: np.ndarray, t: np.ndarray, context: Context,
                  k: int) -> list[str]:
    """An op whose backward is declared as named paths: which one is missing, or the
    only one there."""
    offset = 1 if context.op.convention == "loss" else 0
    terms = {term: grads[k - offset] for term, grads in
             context.op.term_grads(context.dout, *context.inputs,
                                   *copy.deepcopy(context.params)).items()}
    telling = {term: g for term, g in terms.items() if not _same(g, 0 * g, 1e-3) and
               not _same(g, t, 1e-3)}
    return [f"your {name} misses the path {term}: add its contribution"
            for term, g in telling.items() if _same(s, t - g)] + \
        [f"your {name} has the path {term} only: the other paths are missing"
         for term, g in telling.items() if _same(s, g)]


def _known(name: str, input_name: str, s: np.ndarray, context: Context) -> list[str]:
    """The op's known mistakes that explain s; a forward's (output "out") are computed
    from the inputs alone, a backward's from the upstream and the inputs."""
    if s.size < 2:
        return []  # one number matches many mistakes by chance
    found = []
    upstream = [] if input_name == FORWARD_OUTPUT else [context.dout]
    for mistake in context.op.mistakes:
        if mistake.output != input_name:
            continue
        with np.errstate(all="ignore"):
            candidate = mistake.wrong(*upstream, *context.inputs,
                                      *copy.deepcopy(context.params))
        if candidate is not None and _same(s, candidate):
            found.append(f"your {name} matches a known mistake: "
                         f"{context.explain(mistake.idea, mistake.formula)}")
    return found


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


def explanations(name: str, input_name: str, s: np.ndarray, t: np.ndarray,
                 context: Context, output_names: list[str]) -> list[str]:
    """Every explanation of a wrong output s that fits this case (shapes already match),
    most specific first: the op's known mistakes, then the generic ones. A case that
    several explain is explained by none alone: `judging` keeps the one every case shares."""
    if not np.all(np.isfinite(s)):
        bad = int(np.sum(~np.isfinite(s)))
        advice = context.op.overflow
        return [f"{name} has {bad} nan/inf entries" + (f": {advice}" if advice else "")]
    return _known(name, input_name, s, context) + _generic(name, s, t, context, output_names)


def jacobian_hint(s: np.ndarray, t: np.ndarray, tol: np.ndarray, x: np.ndarray,
                  mistakes=()) -> str:
    """What is wrong with the Jacobian of an elementwise gate (diagonal by nature);
    `mistakes` are the function's known (idea, wrong(x)) pairs."""
    for idea, wrong in mistakes:
        if s.size > 1 and _same(s, wrong(x)):
            return idea
    off = ~np.eye(t.shape[0], dtype=bool) if t.ndim == 2 and t.shape[0] == t.shape[1] else None
    if off is not None and not np.any(t[off]) and np.any(s[off]):
        count = int(np.count_nonzero(s[off]))
        return (f"J has {count} nonzero entries off the diagonal: an elementwise gate's output "
                "i depends on input i alone, so its Jacobian is diagonal")
    return where_wrong("J", s, t, tol)
