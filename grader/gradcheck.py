"""Numerical gradients by central differences in float64, and checks of the reference.

Two ways to compare an analytic gradient g of L(x) = <dout, f(x)> with the numbers:
- directional (adjoint) check: <g, u> against (L(x + h·u) − L(x − h·u)) / 2h for a random
  direction u. Two forward calls, whatever the size of x.
- full coordinate check: every entry of g against its own central difference. Two forward
  calls per entry: used for small inputs, and to say *where* a gradient is wrong.
The reference is checked this way too: when it disagrees with the numbers the exercise is
broken, and the grader reports an internal error instead of blaming the student.
"""

from __future__ import annotations

from dataclasses import dataclass
import copy
import math
from collections.abc import Callable, Sequence

import numpy as np

from grader.cases import H

Arrays = Sequence[np.ndarray]
# A float64 central difference with h = 1e-5 is accurate to about 1e-8 relative on our
# smooth, kink-free inputs; 1e-6 leaves room while catching any wrong formula.
REFERENCE_RTOL = 1e-6
FULL_CHECK_MAX_ENTRIES = 64


@dataclass
class CountingLoss:
    """L(xs) = <dout, f(*xs)>, counting forward calls (for the benchmark)."""

    forward: Callable[..., np.ndarray]
    dout: np.ndarray
    calls: int = 0

    def __call__(self, xs: Arrays) -> float:
        self.calls += 1
        return float(np.multiply(self.dout, self.forward(*xs)).sum())


def directional_derivative(loss: Callable[[Arrays], float], xs: Arrays, us: Arrays,
                           h: float = H) -> float:
    plus = [x + h * u for x, u in zip(xs, us)]
    minus = [x - h * u for x, u in zip(xs, us)]
    return (loss(plus) - loss(minus)) / (2 * h)


def numerical_gradients(loss: Callable[[Arrays], float], xs: Arrays,
                        h: float = H) -> list[np.ndarray]:
    """dL/dx for every entry of every x: the full finite-difference check."""
    grads = []
    for k, x in enumerate(xs):
        g = np.zeros_like(x, dtype=float)
        for idx in np.ndindex(x.shape):
            e = np.zeros_like(x, dtype=float)
            e[idx] = h
            plus = [v + e if i == k else v for i, v in enumerate(xs)]
            minus = [v - e if i == k else v for i, v in enumerate(xs)]
            g[idx] = (loss(plus) - loss(minus)) / (2 * h)
        grads.append(g)
    return grads


def relative_error(a: float | np.ndarray, b: float | np.ndarray) -> float:
    """CS231n's relative error, taken over the largest entries; infinite where either side
    is not finite (a NaN compares as "not greater" than any tolerance, and would pass)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return float("inf")
    scale = max(float(np.max(np.abs(a), initial=0.0)), float(np.max(np.abs(b), initial=0.0)))
    return float(np.max(np.abs(a - b), initial=0.0)) / max(scale, 1e-12)


def adjoint_error(loss: Callable[[Arrays], float], xs: Arrays, grads: Arrays,
                  rng: np.random.Generator) -> float:
    """Relative disagreement of <g, u> with the directional derivative along u."""
    us = [rng.normal(size=np.shape(x)) for x in xs]
    numeric = directional_derivative(loss, xs, us)
    # ndarray.sum, not np.sum: the same sums without numpy's dispatch, on tiny arrays
    analytic = float(sum(np.multiply(g, u).sum() for g, u in zip(grads, us)))
    norm = math.sqrt(float(sum(np.multiply(g, g).sum() for g in grads))) * \
        math.sqrt(float(sum(np.multiply(u, u).sum() for u in us)))
    return _finite_or_inf(abs(numeric - analytic) / max(norm, 1e-12))


def _finite_or_inf(error: float) -> float:
    """An error that is NaN (a NaN gradient or loss) counts as infinitely wrong."""
    return error if np.isfinite(error) else float("inf")


def gradient_error(loss: Callable[[Arrays], float], xs: Arrays, grads: Arrays,
                   rng: np.random.Generator) -> float:
    """Full coordinate check for small inputs, directional check for large ones."""
    if sum(np.size(x) for x in xs) <= FULL_CHECK_MAX_ENTRIES:
        numeric = numerical_gradients(loss, xs)
        return max((relative_error(g, n) for g, n in zip(grads, numeric)), default=0.0)
    return adjoint_error(loss, xs, grads, rng)


def gate_loss(gate, inputs: Arrays, params: Sequence[float], dout: np.ndarray
              ) -> tuple[CountingLoss, list[np.ndarray]]:
    """L over the gate's differentiable inputs (labels stay fixed), and those inputs."""
    diff = [i for i, d in enumerate(gate.differentiable) if d]

    def forward(*xs):
        full = list(inputs)
        for i, x in zip(diff, xs):
            full[i] = x
        # a dict parameter may hold state the forward updates (running averages)
        return gate.forward(*full, *(copy.deepcopy(p) if isinstance(p, dict) else p
                                     for p in params))

    return CountingLoss(forward, dout), [np.asarray(inputs[i], dtype=float) for i in diff]


REFERENCE_DIRECTIONS = 2


def reference_gate_error(gate, inputs: Arrays, params: Sequence[float], dout: np.ndarray,
                         rng: np.random.Generator,
                         directions: np.random.Generator | None = None,
                         grads: Arrays | None = None) -> float:
    """How far the reference backward is from the numbers (should be ~1e-9), along a few
    random directions: the reference needs a verdict, not where it is wrong, and a wrong
    formula shows along almost every direction. Two forward calls per direction instead of
    two per entry: planning a student's cases is cheap enough to do per student. The
    directions come from a child stream of `rng`, so the cases drawn after stay the same;
    a planner passes one such stream (`directions`) for all of an exercise's cases, as
    spawning one costs more than the check itself, and the backward's result (`grads`)
    when it has it."""
    loss, xs = gate_loss(gate, inputs, params, dout)
    grads = gate.grads(dout, *inputs, *params) if grads is None else grads
    directions = rng.spawn(1)[0] if directions is None else directions
    return max(adjoint_error(loss, xs, grads, directions) for _ in range(REFERENCE_DIRECTIONS))


def reference_jacobian_error(function, gate, x: np.ndarray) -> float:
    """Compare a reference Jacobian with central differences, column by column."""
    numeric = np.empty((np.size(gate.forward(x)), x.size))
    for j in range(x.size):
        e = np.zeros_like(x)
        e[j] = H
        numeric[:, j] = (gate.forward(x + e) - gate.forward(x - e)).ravel() / (2 * H)
    return relative_error(function.compute(x), numeric)


def linear_graph_outputs(nodes, local_grads, output: str, order: Sequence[str],
                         shift: Sequence[float]) -> tuple[float, float]:
    """Evaluate the linear graph that `local_grads` describes (its gradients are exactly
    what backprop must return) twice in one pass: with each node's value shifted by
    +shift and by -shift (`shift` in `order`)."""
    plus: dict[str, float] = {}
    minus: dict[str, float] = {}
    for name, step in zip(order, shift):
        inputs = nodes[name]
        if inputs:
            up = down = 0.0
            for i, g in zip(inputs, local_grads[name]):
                up += plus[i] * g
                down += minus[i] * g
        else:
            up = down = 1.0
        plus[name], minus[name] = up + step, down - step
    return plus[output], minus[output]


def reference_backprop_error(nodes, local_grads, output: str, grads: dict[str, float],
                             rng: np.random.Generator,
                             order: Sequence[str] | None = None) -> float:
    """Directional check of a backprop answer on the graph's linear model (`order`: the
    graph's topological order, when the caller has it)."""
    from reference.graph import topological_order

    order = topological_order(nodes, output) if order is None else order
    u = rng.normal(size=len(order)).tolist()
    up, down = linear_graph_outputs(nodes, local_grads, output, order, [H * v for v in u])
    numeric = (up - down) / (2 * H)
    analytic = sum(grads[name] * v for name, v in zip(order, u))
    return _finite_or_inf(abs(numeric - analytic) / max(abs(numeric), abs(analytic), 1.0))
