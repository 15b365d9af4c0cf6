"""Plan the probes of each exercise, in the trusted parent only.

A probe is one call of a student function plus the reference's answer to it. Each check of
an exercise (named in its YAML with a weight) is fed by some probes. Every reference
answer is itself checked against the numerical gradient: a disagreement is an internal
error, never the student's fault.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from grader import cases, diagnosis
from grader.exercises import Exercise, extreme_specs
from grader.gradcheck import (REFERENCE_RTOL, reference_backprop_error, reference_gate_error,
                              reference_jacobian_error)
from grader.sandbox import Call
from reference import FUNCTIONS, get_gate
from reference.graph import backprop as reference_backprop

VALUE_CASES = 3


class InternalError(Exception):
    """The exercise, not the student, is wrong."""


@dataclass
class Probe:
    check: str
    call: Call
    expected: Any
    label: str
    context: diagnosis.Context | None = None
    arg_names: tuple[str, ...] = ()
    output_names: tuple[str, ...] = ()  # when not a single gate's (e.g. a whole network)


def gate_probe(exercise: Exercise, check: str, inputs, params, dout, label: str,
               rng: np.random.Generator, gate_name: str | None = None,
               function: str | None = None) -> Probe:
    gate = get_gate(gate_name or exercise.spec["gate"])
    truths = [np.asarray(g, dtype=float) for g in gate.grads(dout, *inputs, *params)]
    if np.any(dout) and reference_gate_error(gate, inputs, params, dout, rng) > REFERENCE_RTOL:
        raise InternalError(f"the reference {gate.name} backward disagrees with the numerical "
                            f"gradient ({label})")
    context = diagnosis.Context(gate.name, gate.inputs, list(inputs), list(params),
                                np.asarray(dout), truths, exercise.reveal)
    call = Call(exercise.id, function or exercise.spec["function"],
                [np.asarray(dout, dtype=float)] + [np.asarray(x) for x in inputs] + list(params))
    return Probe(check, call, truths, label, context, ("dout",) + gate.inputs + gate.params)


def plan_gate(exercise: Exercise, seed: int) -> list[Probe]:
    gate = get_gate(exercise.spec["gate"])
    rng = cases.rng_for(seed, exercise.id)
    checks = exercise.checks

    def fresh(label, dims=None, extreme=None, dout_override=None):
        dims = dims or cases.random_dims(gate, rng)
        inputs = cases.gate_inputs(gate, dims, rng, extreme)
        params = cases.gate_params(gate, rng)
        out_shape = np.shape(gate.forward(*inputs, *params))
        dout = cases.upstream(out_shape, rng) if dout_override is None else dout_override(out_shape)
        return inputs, params, dout, label

    probes = [gate_probe(exercise, "values", *fresh(f"random case {i + 1}"), rng)
              for i in range(VALUE_CASES)]
    if "zero_upstream" in checks:
        probes.append(gate_probe(exercise, "zero_upstream",
                                  *fresh("zero upstream", dout_override=np.zeros), rng))
    if "linear_upstream" in checks:
        inputs, params, d1, _ = fresh("linearity")
        d2 = cases.upstream(d1.shape, rng)
        a, b = 1.7, -1.3  # a + b != 1, so an upstream-free answer fails too
        for label, dout in (("upstream u", d1), ("upstream v", d2),
                            (f"upstream {a}u + {b}v", a * d1 + b * d2)):
            probes.append(gate_probe(exercise, "linear_upstream", inputs, params, dout, label,
                                      rng))
    if "scalar" in checks:
        dims = {**cases.random_dims(gate, rng), "...": ()}
        probes.append(gate_probe(exercise, "scalar", *fresh("0-d inputs", dims=dims), rng))
    if "extreme" in checks:
        for extreme in extreme_specs(exercise.spec["extreme"]):
            label = "extreme inputs (" + ", ".join(
                f"|{k}| in {v['magnitude']}" if "magnitude" in v else
                f"{k} rows ≈ {', '.join(map(str, v['offset']))} in turn"
                if isinstance(v["offset"], list) else f"{k} ≈ {v['offset']}"
                for k, v in extreme.items()) + ")"
            probes.append(gate_probe(exercise, "extreme", *fresh(label, extreme=extreme), rng))
    return probes


def plan_function(exercise: Exercise, seed: int) -> list[Probe]:
    function = FUNCTIONS[exercise.spec["reference"]]
    gate = get_gate(function.jacobian_of)
    rng = cases.rng_for(seed, exercise.id)
    probes = []
    for n in exercise.spec["lengths"]:
        (x,) = cases.gate_inputs(gate, {"...": (n,)}, rng)
        if reference_jacobian_error(function, gate, x) > REFERENCE_RTOL:
            raise InternalError(f"the reference {function.name} disagrees with the numbers")
        call = Call(exercise.id, exercise.spec["function"], [x], form="array")
        probes.append(Probe("values", call, [function.compute(x)], f"x of length {n}",
                            arg_names=function.inputs))
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
        expected = reference_backprop(nodes, local, out)
        if reference_backprop_error(nodes, local, out, expected, rng) > REFERENCE_RTOL:
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


