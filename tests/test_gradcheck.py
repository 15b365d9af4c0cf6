"""Gradient checking: kink-safe points, two-call directional checks, and tolerances that
accept honest float32 while rejecting every real mistake."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from grader import cases
from grader.exercises import Tolerance
from grader.gradcheck import (CountingLoss, adjoint_error, directional_derivative,
                              gate_loss, numerical_gradients)
from grader import gradcheck
from grader.judging import within
from reference import OPS

DEFAULT = Tolerance(rtol=1e-3, atol=1e-5)


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), name=st.sampled_from(["relu", "max"]))
def test_test_points_stay_clear_of_kinks_and_ties(seed, name):
    gate = OPS[name]
    rng = np.random.default_rng(seed)
    inputs = cases.gate_inputs(gate, cases.random_dims(gate, rng), rng)
    assert gate.kinks(*inputs) > 10 * cases.H


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 10**6))
def test_dimensions_are_distinct_and_upstreams_are_never_ones(seed):
    rng = np.random.default_rng(seed)
    dims = cases.random_dims(OPS["linear"], rng)
    assert len({dims["N"], dims["D"], dims["M"]}) == 3
    dout = cases.upstream((dims["N"], dims["M"]), rng)
    assert not np.allclose(dout, 1.0)
    scalar = cases.upstream((), rng)
    assert abs(abs(float(scalar)) - 1) > 0.4


def test_directional_check_costs_two_forward_calls_whatever_the_size():
    rng = np.random.default_rng(0)
    gate = OPS["linear"]
    x, w, b = rng.normal(size=(64, 256)), rng.normal(size=(256, 128)), rng.normal(size=128)
    dout = rng.normal(size=(64, 128))
    loss, xs = gate_loss(gate, [x, w, b], [], dout)
    grads = gate.grads(dout, x, w, b)
    assert adjoint_error(loss, xs, grads, rng) < 1e-7
    assert loss.calls == 2
    wrong = (grads[0], grads[1].copy(), grads[2])
    wrong[1][3, 5] += 1.0  # a single wrong entry among 32768
    assert adjoint_error(loss, xs, wrong, np.random.default_rng(1)) > 1e-6


def test_full_check_matches_every_entry():
    loss = CountingLoss(lambda x: x**3, np.array([1.0, 2.0]))
    (g,) = numerical_gradients(loss, [np.array([1.0, -2.0])])
    assert np.allclose(g, [3.0, 2 * 12.0], rtol=1e-8)
    assert loss.calls == 4
    assert directional_derivative(loss, [np.array([1.0, -2.0])], [np.array([1.0, 0.0])]) == \
        pytest.approx(3.0)


MISTAKES = {
    "sign": lambda t, rng: -t,
    "half": lambda t, rng: t / 2,
    "double": lambda t, rng: 2 * t,
    "over N": lambda t, rng: t / 5,
    "transposed": lambda t, rng: t.T,
    "mask (60% right)": lambda t, rng: np.where(rng.random(t.shape) < 0.6, t, 0),
    "one entry": lambda t, rng: t + np.eye(*t.shape) * np.abs(t).max(),
}


@pytest.mark.parametrize("mistake", MISTAKES)
@pytest.mark.parametrize("seed", range(10))
def test_every_real_mistake_is_rejected(mistake, seed):
    rng = np.random.default_rng(seed)
    t = rng.normal(size=(5, 5)) * rng.uniform(1e-3, 1e3)
    s = MISTAKES[mistake](t, rng)
    assert not within(s, t, DEFAULT)


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("name", ["sigmoid", "softmax_ce", "linear", "reciprocal", "exp"])
def test_honest_float32_arithmetic_is_accepted(seed, name):
    gate = OPS[name]
    rng = np.random.default_rng(seed)
    extreme = {"sigmoid": {"x": {"magnitude": [4, 8]}},
               "softmax_ce": {"scores": {"offset": 1000}}}.get(name)
    inputs = cases.gate_inputs(gate, cases.random_dims(gate, rng), rng, extreme)
    dout = cases.upstream(np.shape(gate.forward(*inputs)), rng)
    truth = gate.grads(dout, *inputs)
    low = [x.astype(np.float32) if x.dtype.kind == "f" else x for x in inputs]
    if name == "sigmoid":  # the textbook formula, where 1 - s cancels in float32
        s = np.float32(1) / (np.float32(1) + np.exp(-low[0]))
        approx = (dout.astype(np.float32) * s * (np.float32(1) - s),)
    else:
        approx = gate.grads(dout.astype(np.float32), *low)
    for a, t in zip(approx, truth):
        assert a.dtype == np.float32 or name == "softmax_ce"
        assert within(a.astype(float), t, DEFAULT)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_reference_that_returns_nan_or_inf_never_passes_its_self_check(bad):
    """`nan > tolerance` is False: a NaN error must count as infinitely wrong, or a broken
    reference (say a negative epsilon under a square root) would be called valid."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4))
    broken = type("Broken", (), {"differentiable": (True,), "forward": staticmethod(np.tanh),
                                 "grads": staticmethod(lambda dout, x: (dout * bad,))})()
    assert gradcheck.reference_gate_error(broken, [x], [], rng.normal(size=x.shape), rng) \
        == float("inf")
    big = rng.normal(size=(20, 10))  # past the full check: the directional one
    assert gradcheck.reference_gate_error(broken, [big], [], rng.normal(size=big.shape),
                                          rng) == float("inf")
    assert gradcheck.relative_error(np.array([1.0, bad]), np.array([1.0, 2.0])) == float("inf")


def test_the_reference_self_check_catches_one_wrong_entry_of_a_small_gate():
    """The self-check looks along random directions, not entry by entry: one entry off by
    a tenth, in a gate of a few entries, is still far past its tolerance."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 3))

    def grads(dout, x):
        g = dout * (1 - np.tanh(x) ** 2)
        g[1, 2] *= 1.1
        return (g,)

    broken = type("Broken", (), {"differentiable": (True,), "forward": staticmethod(np.tanh),
                                 "grads": staticmethod(grads)})()
    right = type("Right", (), {"differentiable": (True,), "forward": staticmethod(np.tanh),
                               "grads": staticmethod(lambda d, x: (d * (1 - np.tanh(x) ** 2),))})()
    dout = rng.normal(size=x.shape)
    assert gradcheck.reference_gate_error(broken, [x], [], dout, rng) > 1e3 * \
        gradcheck.REFERENCE_RTOL
    assert gradcheck.reference_gate_error(right, [x], [], dout, rng) < gradcheck.REFERENCE_RTOL


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_labels_always_tell_one_row_from_every_row(seed):
    """Two classes used and one never: `p[:, y] -= 1` can never equal the true gradient
    by chance, so its score does not depend on the seed."""
    gate = OPS["softmax_ce"]
    rng = np.random.default_rng(seed)
    dims = cases.random_dims(gate, rng)
    _, y = cases.gate_inputs(gate, dims, rng)
    assert 2 <= len(set(y.tolist())) < dims["C"]
