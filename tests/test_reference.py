"""The reference is ground truth: its gradients agree with central differences, and the
graph engine reproduces every number of the lecture's worked examples."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from grader import cases
from grader.gradcheck import numerical_gradients, gate_loss, relative_error
from reference import OPS, backprop
from reference.graph import Graph, GraphError, Node, topological_order


@settings(max_examples=25, deadline=None)
@given(name=st.sampled_from(sorted(OPS)), seed=st.integers(0, 2**32 - 1),
       scale=st.floats(0.1, 3.0))
def test_every_reference_backward_matches_central_differences(name, seed, scale):
    gate = OPS[name]
    rng = np.random.default_rng(seed)
    dims = cases.random_dims(gate, rng)
    inputs = cases.gate_inputs(gate, dims, rng)
    if gate.domains[0] == "real":  # vary the magnitude of real inputs too
        inputs[0] = inputs[0] * scale
        if gate.kinks and gate.kinks(*inputs) <= cases.KINK_MARGIN:
            return
    params = cases.gate_params(gate, rng)
    dout = cases.upstream(np.shape(gate.forward(*inputs, *params)), rng)
    loss, xs = gate_loss(gate, inputs, params, dout)
    for analytic, numeric in zip(gate.grads(dout, *inputs, *params), numerical_gradients(loss, xs)):
        assert np.shape(analytic) == np.shape(numeric)
        assert relative_error(analytic, numeric) < 1e-6


@settings(deadline=None)  # Hypothesis's default 200 ms per example is a stopwatch
@given(n=st.integers(1, 12), seed=st.integers(0, 1000))
def test_relu_jacobian_reference_is_the_numerical_jacobian(n, seed):
    rng = np.random.default_rng(seed)
    (x,) = cases.gate_inputs(OPS["relu"], {"...": (n,)}, rng)
    from grader.gradcheck import reference_jacobian_error
    assert reference_jacobian_error(OPS.functions["relu_jacobian"], OPS["relu"], x) < 1e-8


def graph(inputs, nodes, output):
    return Graph(inputs, {k: Node(*v) for k, v in nodes.items()}, output, OPS)


def run(g: Graph, values: dict, upstream=1.0):
    vals = g.forward(values)
    return vals, g.backward(vals, np.asarray(upstream, dtype=float))


def test_simple_graph():
    g = graph(["x", "y", "z"], {"q": ("add", ["x", "y"]), "f": ("mul", ["q", "z"])}, "f")
    vals, grads = run(g, {"x": -2, "y": 5, "z": -4})
    assert vals["q"] == 3 and vals["f"] == -12
    assert (grads["x"], grads["y"], grads["z"]) == (-4, -4, 3)


def test_sigmoid_neuron_step_by_step():
    g = graph(["w0", "x0", "w1", "x1", "w2"], {
        "a": ("mul", ["w0", "x0"]), "b": ("mul", ["w1", "x1"]), "c": ("add", ["a", "b"]),
        "d": ("add", ["c", "w2"]), "e": ("scale", ["d"], {"c": -1.0}), "f": ("exp", ["e"]),
        "g": ("offset", ["f"], {"c": 1.0}), "h": ("reciprocal", ["g"])}, "h")
    vals, grads = run(g, {"w0": 2, "x0": -1, "w1": -3, "x1": -2, "w2": -3})
    forward = [vals[k] for k in "abcdefgh"]
    assert np.round(forward, 2).tolist() == [-2, 6, 4, 1, -1, 0.37, 1.37, 0.73]
    assert round(float(grads["g"]), 2) == -0.53 and round(float(grads["f"]), 2) == -0.53
    assert round(float(grads["e"]), 2) == -0.20 and round(float(grads["d"]), 2) == 0.20
    leaves = [grads[k] for k in ("w0", "x0", "w1", "x1", "w2")]
    assert np.allclose(leaves, [-0.196612, 0.393224, -0.393224, -0.589836, 0.196612], atol=1e-6)
    # The sigmoid as a single gate: local gradient s(1 - s) = 0.73 * 0.27, about 0.20.
    s = graph(["d"], {"h": ("sigmoid", ["d"])}, "h")
    _, g1 = run(s, {"d": 1.0})
    assert round(float(g1["d"]), 2) == 0.20


def test_gate_patterns():
    g = graph(["x", "y", "z", "w"], {"p": ("mul", ["x", "y"]), "m": ("max", ["z", "w"]),
                                     "s": ("add", ["p", "m"]), "f": ("scale", ["s"], {"c": 2.0})},
              "f")
    vals, grads = run(g, {"x": 3, "y": -4, "z": 2, "w": -1})
    assert vals["f"] == -20
    assert [grads[k] for k in "xyzw"] == [-8, 6, 2, 0]


@pytest.mark.parametrize("op, a, b, upstream, expected", [
    ("add", 3, 4, 2, (2, 2)),      # distributor
    ("mul", 2, 3, 5, (15, 10)),    # swap multiplier
    ("max", 4, 5, 9, (0, 9)),      # router
])
def test_pattern_slide(op, a, b, upstream, expected):
    g = graph(["a", "b"], {"f": (op, ["a", "b"])}, "f")
    _, grads = run(g, {"a": a, "b": b}, upstream)
    assert (grads["a"], grads["b"]) == expected


def test_pattern_slide_copy_adds():
    g = graph(["a"], {"u": ("scale", ["a"], {"c": 4.0}), "v": ("scale", ["a"], {"c": 2.0}),
                      "f": ("add", ["u", "v"])}, "f")
    _, grads = run(g, {"a": 1.0})
    assert grads["a"] == 6


def test_staged_computation():
    g = graph(["x", "y"], {"sy": ("sigmoid", ["y"]), "num": ("add", ["x", "sy"]),
                           "sx": ("sigmoid", ["x"]), "xpy": ("add", ["x", "y"]),
                           "sq": ("square", ["xpy"]), "den": ("add", ["sx", "sq"]),
                           "f": ("div", ["num", "den"])}, "f")
    vals, grads = run(g, {"x": 3, "y": -4})
    assert round(float(vals["f"]), 6) == 1.545645
    assert round(float(grads["x"]), 6) == 2.059570
    assert round(float(grads["y"]), 6) == 1.592233


def test_relu_on_a_vector():
    g = graph(["x"], {"r": ("relu", ["x"])}, "r")
    _, grads = run(g, {"x": [1, -2, 3, -1]}, [4, -1, 5, 9])
    assert grads["x"].tolist() == [4, 0, 5, 0]


def test_matrix_example():
    x = [[2, 1, -3], [-3, 4, 2]]
    w = [[3, 2, 1, -1], [2, 1, 3, 2], [3, 2, 1, -2]]
    g = graph(["x", "w"], {"y": ("matmul", ["x", "w"])}, "y")
    vals, grads = run(g, {"x": x, "w": w}, [[2, 3, -3, 9], [-8, 1, 4, 6]])
    assert vals["y"].tolist() == [[-1, -1, 2, 6], [5, 2, 11, 7]]
    assert grads["x"].tolist() == [[0, 16, -9], [-24, 9, -30]]
    assert grads["w"].tolist() == [[28, 3, -18, 0], [-30, 7, 13, 33], [-22, -7, 17, -15]]


def test_fan_out_accumulates_like_x_squared_plus_x_cubed():
    g = graph(["x"], {"a": ("square", ["x"]), "b": ("pow", ["x"], {"p": 3.0}),
                      "f": ("add", ["a", "b"])}, "f")
    _, grads = run(g, {"x": 2.0})
    assert grads["x"] == pytest.approx(2 * 2 + 3 * 4)


def test_backprop_repeated_inputs_unreachable_nodes_and_a_deep_chain():
    assert backprop({"x": [], "f": ["x", "x"]}, {"x": [], "f": [3.0, 3.0]}, "f")["x"] == 6
    got = backprop({"x": [], "y": [], "f": ["x"], "dead": ["y", "f"]},
                   {"x": [], "y": [], "f": [2.0], "dead": [1.0, 1.0]}, "f")
    assert got == {"x": 2.0, "y": 0.0, "f": 1.0, "dead": 0.0}
    n = 20000  # far beyond Python's recursion limit
    nodes = {"n0": [], **{f"n{i}": [f"n{i - 1}"] for i in range(1, n)}}
    local = {"n0": [], **{f"n{i}": [1.0] for i in range(1, n)}}
    assert backprop(nodes, local, f"n{n - 1}")["n0"] == 1.0


def test_graph_errors_name_the_problem():
    with pytest.raises(GraphError, match="cycle"):
        topological_order({"a": ["b"], "b": ["a"]}, "a")
    with pytest.raises(GraphError, match="never defined"):
        topological_order({"a": ["ghost"]}, "a")
