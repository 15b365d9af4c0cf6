"""Plan the probes of each exercise, in the trusted parent only.

A probe is one call of a student function plus the reference's answer to it. Each check of
an exercise (named in its YAML with a weight) is fed by some probes. Every reference
answer is itself checked against the numerical gradient: a disagreement is an internal
error, never the student's fault.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from collections.abc import Callable
from typing import Any

import numpy as np

from grader import cases, diagnosis
from grader.authoring import Op
from grader.exercises import Exercise, extreme_specs
from grader.gradcheck import (REFERENCE_RTOL, reference_backprop_error, reference_gate_error,
                              reference_jacobian_error)
from grader.sandbox import Call
from reference.graph import backprop as reference_backprop, topological_order

VALUE_CASES = 3


class InternalError(Exception):
    """The exercise, not the student, is wrong."""


def failure(error: Exception) -> str:
    """What broke while planning an exercise: its reference, or a pack's code."""
    if isinstance(error, (InternalError, RuntimeError)):
        return str(error)
    return f"the exercise's reference code raised {type(error).__name__}: {error}"


@dataclass
class Probe:
    """One student call with the reference's answer and what judging it needs."""

    check: str
    call: Call
    expected: Any
    label: str
    context: diagnosis.Context | None = None
    arg_names: tuple[str, ...] = ()
    output_names: tuple[str, ...] = ()  # when not a single gate's (e.g. a whole network)
    owners: tuple[str, ...] = ()  # what each output's shape must be that of
    sent: list[np.ndarray] | None = None  # the arrays whose change `untouched` looks for
    mistakes: tuple = ()  # a plain function's known (idea, wrong(*inputs)) pairs
    derive: Callable[[list[np.ndarray]], list[np.ndarray]] | None = None  # the truth from
    # what the student's own forward returned (`stochastic`), when it is not known before
    forward_out: np.ndarray | None = None  # what the forward that made the cache must give
    called_as: str | None = field(default=None, repr=False, compare=False)  # `judging`'s


def step(function: str | None, *args, op: str = "call") -> dict:
    return {"op": op, "args": list(args), **({"function": function} if function else {})}


def ref(step: int, index: int = 0) -> dict:
    return {"ref": [step, index]}


def watched(values: list) -> tuple[list[dict], list[dict]]:
    """Program steps that hold each value, and references to them: the student's functions
    get these very objects, so the grader sees what they did to them afterwards."""
    return [step(None, v, op="value") for v in values], [ref(i) for i in range(len(values))]


def gate_call(exercise: Exercise, op: Op, inputs: list, params: list, dout: np.ndarray,
              function: str | None = None) -> tuple[Call, list[np.ndarray] | None]:
    """The student's backward, called as the op's convention says: with the inputs
    (plain), with the cache of the student's own forward (cache), or the loss function
    itself (loss, which returns the loss and the gradients)."""
    function = function or exercise.spec["function"]
    arrays = [np.asarray(x) for x in inputs]
    if op.convention == "loss":
        return Call(exercise.id, function, arrays + list(params)), None
    if op.convention == "plain":
        return Call(exercise.id, function, [np.asarray(dout, dtype=float)] + arrays +
                    list(params)), None
    holders, refs = watched(arrays)
    forward = len(holders)
    program = holders + [step(exercise.spec["forward"], *refs, *params),
                         step(function, np.asarray(dout, dtype=float), ref(forward, 1))]
    grads = len(op.grad_inputs)
    return Call(exercise.id, function, [], form="program", program=program,
                returns=[(forward + 1, k) for k in range(grads)] + [(forward, 0)],
                watch=[(i, 0) for i in range(forward)]), arrays


def gate_probe(exercise: Exercise, check: str, inputs, params, dout, label: str,
               rng: np.random.Generator, op: Op | None = None,
               function: str | None = None,
               directions: np.random.Generator | None = None) -> Probe:
    """One case of an op's backward; `directions`: the stream its reference self-check
    draws from (one per exercise: see `reference_gate_error`)."""
    op = op or exercise.op
    grads = op.grads(dout, *inputs, *params)
    truths = [np.asarray(g, dtype=float) for g in grads]
    if np.any(dout) and reference_gate_error(op, inputs, params, dout, rng, directions,
                                             grads) > REFERENCE_RTOL:
        raise InternalError(f"the reference {op.name} backward disagrees with the numerical "
                            f"gradient ({label})")
    owners = op.grad_inputs
    names = tuple(f"d{n}" for n in owners)
    if op.convention == "loss":  # the loss itself comes first
        truths.insert(0, np.asarray(op.forward(*inputs, *params), dtype=float))
        names, owners = ("loss",) + names, ("the loss",) + owners
    context = diagnosis.Context(op, list(inputs), list(params), np.asarray(dout), truths,
                                exercise.reveal, names)
    call, sent = gate_call(exercise, op, inputs, params, dout, function)
    arg_names = op.inputs + op.param_names
    forward_out = None
    if op.convention == "cache":  # the cache's forward output comes back last
        forward_out = np.asarray(op.forward(*inputs, *copy.deepcopy(params)), dtype=float)
    return Probe(check, call, truths, label, context,
                 arg_names if op.convention != "plain" else ("dout",) + arg_names,
                 names, owners, sent, forward_out=forward_out)


def forward_probe(exercise: Exercise, check: str, inputs, params, label: str) -> Probe:
    """A student's forward: its output (the first of (out, cache) for a cache-convention
    op) against the reference forward's."""
    op = exercise.op
    state = [copy.deepcopy(p) for p in params]
    out = np.asarray(op.forward(*inputs, *state), dtype=float)
    arrays = [np.asarray(x) for x in inputs]
    expected, names, owners = [out], ("out",), ("out",)
    context = diagnosis.Context(op, list(inputs), list(params), np.asarray(1.0), expected,
                                exercise.reveal, names, forward=True)
    if op.convention == "plain" and not op.state:
        call = Call(exercise.id, exercise.spec["function"], arrays + list(params), form="array")
        return Probe(check, call, expected, label, context, op.inputs + op.param_names, names,
                     owners)
    holders, refs = watched(arrays + list(params))
    n = len(holders)
    program = holders + [step(exercise.spec["function"], *refs)]
    returns = [(n, 0)]  # the output alone, or the first of (out, cache)
    for name in op.state if check == "state" else ():
        index = op.param_names.index(name)
        for key, value in state[index].items():
            if isinstance(value, np.ndarray):
                program.append(step(None, refs[len(arrays) + index], key, op="item"))
                returns.append((len(program) - 1, 0))
                expected.append(np.asarray(value, dtype=float))
                names += (f"{name}[{key!r}]",)
                owners += (f"{name}[{key!r}]",)
    call = Call(exercise.id, exercise.spec["function"], [], form="program", program=program,
                returns=returns, watch=[(i, 0) for i in range(len(arrays))])
    return Probe(check, call, expected, label, context, op.inputs + op.param_names, names,
                 owners, arrays)


def _label_extreme(extreme: dict) -> str:
    return "extreme inputs (" + ", ".join(
        f"|{k}| in {v['magnitude']}" if "magnitude" in v else
        f"{k} rows ≈ {', '.join(map(str, v['offset']))} in turn"
        if isinstance(v["offset"], list) else f"{k} ≈ {v['offset']}"
        for k, v in extreme.items()) + ")"


def plan_gate(exercise: Exercise, seed: int) -> list[Probe]:
    op = exercise.op
    rng = cases.rng_for(seed, exercise.id)
    checks = exercise.checks

    def fresh(label, scalar=False, extreme=None, dout_override=None):
        inputs, params = cases.draw_case(op, rng, scalar=scalar, extreme=extreme)
        out_shape = np.shape(op.forward(*inputs, *copy.deepcopy(params)))
        if op.convention == "loss":
            dout = np.asarray(1.0)  # a loss function's own upstream is 1
        else:
            dout = cases.upstream(out_shape, rng) if dout_override is None else \
                dout_override(out_shape)
        return inputs, params, dout, label

    if exercise.kind == "forward":
        return plan_forward(exercise, rng)
    directions = rng.spawn(1)[0]  # the self-checks' stream: the cases stay as drawn

    def probe(check, inputs, params, dout, label):
        return gate_probe(exercise, check, inputs, params, dout, label, rng,
                          directions=directions)

    probes = [probe("values", *fresh(f"random case {i + 1}")) for i in range(VALUE_CASES)]
    if "zero_upstream" in checks:
        probes.append(probe("zero_upstream", *fresh("zero upstream", dout_override=np.zeros)))
    if "linear_upstream" in checks:
        inputs, params, d1, _ = fresh("linearity")
        d2 = cases.upstream(d1.shape, rng)
        a, b = 1.7, -1.3  # a + b != 1, so an upstream-free answer fails too
        for label, dout in (("upstream u", d1), ("upstream v", d2),
                            (f"upstream {a}u + {b}v", a * d1 + b * d2)):
            probes.append(probe("linear_upstream", inputs, params, dout, label))
    if "scalar" in checks:
        probes.append(probe("scalar", *fresh("0-d inputs", scalar=True)))
    if "extreme" in checks:
        for extreme in extreme_specs(exercise.spec["extreme"]):
            probes.append(probe("extreme", *fresh(_label_extreme(extreme), extreme=extreme)))
    return probes


def plan_forward(exercise: Exercise, rng: np.random.Generator) -> list[Probe]:
    """A forward exercise: its output on random cases (and extreme ones), and the state
    its forward leaves in its dict parameter."""
    op = exercise.op
    probes = []
    for i in range(VALUE_CASES):
        inputs, params = cases.draw_case(op, rng)
        probes.append(forward_probe(exercise, "values", inputs, params, f"random case {i + 1}"))
    if "state" in exercise.checks:
        inputs, params = cases.draw_case(op, rng)
        probes.append(forward_probe(exercise, "state", inputs, params, "state after a forward"))
    if "test_mode" in exercise.checks:
        first, params = cases.draw_case(op, rng)
        sizes = {d: n for sig, x in zip(op.shapes, first) for d, n in
                 zip(sig.split(), np.shape(x)) if d != "..."}
        probes.append(test_mode_probe(exercise, (first, params),
                                      cases.gate_inputs(op, sizes, rng, params=params)))
    for extreme in extreme_specs(exercise.spec.get("extreme", [])) \
            if "extreme" in exercise.checks else ():
        inputs, params = cases.draw_case(op, rng, extreme=extreme)
        probes.append(forward_probe(exercise, "extreme", inputs, params,
                                    _label_extreme(extreme)))
    return probes


def test_mode_probe(exercise: Exercise, trained: tuple[list, list], inputs: list) -> Probe:
    """A stateful op's test mode: a forward in train mode, then its dict parameter switched
    to test mode (`op.test_mode`), then a forward on other inputs, which must use the
    state the first one left (batchnorm's running averages)."""
    op = exercise.op
    first, params = trained
    state = [copy.deepcopy(p) for p in params]
    op.forward(*first, *state)
    index = op.param_names.index(op.state[0])
    state[index].update(op.test_mode)
    out = np.asarray(op.forward(*inputs, *state), dtype=float)
    arrays = [np.asarray(x) for x in first + inputs]
    holders, refs = watched(arrays + list(params))
    n, k = len(holders), len(first)
    shared = refs[len(arrays):]
    program = holders + [step(exercise.spec["function"], *refs[:k], *shared),
                         step(None, shared[index], dict(op.test_mode), op="update"),
                         step(exercise.spec["function"], *refs[k:len(arrays)], *shared)]
    call = Call(exercise.id, exercise.spec["function"], [], form="program", program=program,
                returns=[(n + 2, 0)], watch=[(i, 0) for i in range(len(arrays))])
    context = diagnosis.Context(op, list(inputs), state, np.asarray(1.0), [out],
                                exercise.reveal, ("out",), forward=True)
    return Probe("test_mode", call, [out], "test mode after a train-mode forward", context,
                 op.inputs + op.param_names, ("out",), ("out",), arrays)


def plan_function(exercise: Exercise, seed: int) -> list[Probe]:
    function = exercise.pack.ops.functions[exercise.spec["reference"]]
    gate = exercise.pack.ops[function.jacobian_of]
    rng = cases.rng_for(seed, exercise.id)
    probes = []
    for n in exercise.spec["lengths"]:
        (x,), _ = cases.draw_case(gate, rng, dims={"...": (n,)})
        if reference_jacobian_error(function, gate, x) > REFERENCE_RTOL:
            raise InternalError(f"the reference {function.name} disagrees with the numbers")
        call = Call(exercise.id, exercise.spec["function"], [x], form="array")
        probes.append(Probe("values", call, [function.compute(x)], f"x of length {n}",
                            arg_names=function.inputs, output_names=("J",),
                            owners=("the (n, n) Jacobian",), mistakes=function.mistakes))
    return probes


def plan_backprop(exercise: Exercise, seed: int) -> list[Probe]:
    rng = cases.rng_for(seed, exercise.id)
    chain = cases.chain_graph(rng, 6)
    fan = cases.fan_out_graph(rng)
    nodes, local, out = cases.fan_out_graph(rng)
    graphs = {
        "chain": (chain, "a chain of 6 nodes"),
        "fan_out": (fan, "a graph where x feeds three gates"),
        "shuffled": ((cases.shuffled(nodes, rng), cases.shuffled(local, rng), out),
                     "the fan-out graph with its nodes in random order"),
        "unreachable": (cases.unreachable_graph(rng), "a graph with dead branches"),
        "repeated_input": (cases.repeated_input_graph(rng), "f = x * x, g = f + f"),
        "deep_chain": (cases.chain_graph(rng, int(exercise.spec.get("deep_chain_length", 3000))),
                       "a chain of {} nodes"),
    }
    probes = []
    for check, ((nodes, local, out), label) in graphs.items():
        if check not in exercise.checks:
            continue
        # A chain is built in its own topological order (each node after its input): the
        # search would take milliseconds on the deep one. A wrong order could not pass
        # unseen: the self-check below evaluates the graph in it.
        order = list(nodes) if check in ("chain", "deep_chain") else \
            topological_order(nodes, out)
        expected = reference_backprop(nodes, local, out, order)
        if reference_backprop_error(nodes, local, out, expected, rng, order) > REFERENCE_RTOL:
            raise InternalError("the reference backprop disagrees with the numbers")
        call = Call(exercise.id, exercise.spec["function"], [nodes, local, out], form="dict")
        probes.append(Probe(check, call, expected, label.format(len(nodes))))
    return probes


def plan_graph(exercise: Exercise, variant: tuple[int, str] | None) -> list[Probe]:
    graph = exercise.graph()
    drawn = (cases.variant_inputs(exercise, variant[1], variant[0])
             if variant and "variants" in exercise.spec else None)
    values = graph.forward(exercise.graph_inputs(drawn))
    grads = graph.backward(values, exercise.graph_upstream())
    expected = {name: float(grads[name]) for name in exercise.spec["ask"]}
    call = Call(exercise.id, exercise.spec["answer"], None, form="dict")
    return [Probe("values", call, expected, exercise.spec["answer"])]


