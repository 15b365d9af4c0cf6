"""Cost of checking a linear layer's gradients: our directional check vs full finite differences.

    python benchmarks/gradcheck_linear.py [--n 64 --d 256 --m 128]

Both check the same analytic gradients (dx, dw, db) of x @ w + b against central differences
of the same forward in float64; the script prints forward calls, wall time and the ratio of
both, measured side by side in one run, and shows that both catch a single wrong entry.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from grader.gradcheck import adjoint_error, gate_loss, numerical_gradients, relative_error
from reference import OPS


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--d", type=int, default=256)
    parser.add_argument("--m", type=int, default=128)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    gate = OPS["linear"]
    x, w = rng.normal(size=(args.n, args.d)), rng.normal(size=(args.d, args.m))
    b, dout = rng.normal(size=args.m), rng.normal(size=(args.n, args.m))
    grads = gate.grads(dout, x, w, b)
    wrong = (grads[0], grads[1].copy(), grads[2])
    wrong[1][7, 3] += 0.5  # one wrong entry out of D*M

    ours, ours_s = timed(lambda: _ours(gate, x, w, b, dout, grads, wrong, rng))
    full, full_s = timed(lambda: _full(gate, x, w, b, dout, grads, wrong))
    entries = x.size + w.size + b.size
    print(f"linear layer N={args.n} D={args.d} M={args.m}: {entries} gradient entries")
    print(f"{'method':<34}{'forward calls':>14}{'seconds':>10}  verdicts (right, one wrong)")
    print(f"{'directional (adjoint) check':<34}{ours[0]:>14}{ours_s:>10.4f}  {ours[1]}")
    print(f"{'full central differences':<34}{full[0]:>14}{full_s:>10.4f}  {full[1]}")
    print(f"ratio full/directional: {full[0] / ours[0]:.0f}x forward calls, "
          f"{full_s / ours_s:.0f}x time")


def _ours(gate, x, w, b, dout, grads, wrong, rng):
    loss, xs = gate_loss(gate, [x, w, b], [], dout)
    right = adjoint_error(loss, xs, grads, rng) < 1e-6
    caught = adjoint_error(loss, xs, wrong, rng) > 1e-6
    return loss.calls // 2, f"{'pass' if right else 'FAIL'}, {'caught' if caught else 'MISSED'}"


def _full(gate, x, w, b, dout, grads, wrong):
    loss, xs = gate_loss(gate, [x, w, b], [], dout)
    numeric = numerical_gradients(loss, xs)
    right = all(relative_error(g, n) < 1e-6 for g, n in zip(grads, numeric))
    caught = any(relative_error(g, n) > 1e-6 for g, n in zip(wrong, numeric))
    return loss.calls, f"{'pass' if right else 'FAIL'}, {'caught' if caught else 'MISSED'}"


if __name__ == "__main__":
    main()
