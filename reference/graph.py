"""The general backpropagation algorithm and a graph engine built on it.

Visit nodes in reverse topological order, multiply upstream by local gradients, and
accumulate (never overwrite) where a value fans out. Traversal is iterative, so a chain of
any depth works.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


class GraphError(ValueError):
    """A graph that cannot be evaluated: unknown name, cycle, bad arity."""


def topological_order(nodes: Mapping[str, Sequence[str]], output: str) -> list[str]:
    """Nodes that `output` depends on, each after all of its inputs (iterative DFS)."""
    if output not in nodes:
        raise GraphError(f"output {output!r} is not a node")
    order: list[str] = []
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[tuple[str, int]] = [(output, 0)]
    while stack:
        name, i = stack.pop()
        if i == 0:
            if state.get(name) == 2:
                continue
            state[name] = 1
        inputs = nodes.get(name)
        if inputs is None:
            raise GraphError(f"node {name!r} is used as an input but never defined")
        if i < len(inputs):
            stack.append((name, i + 1))
            child = inputs[i]
            if state.get(child) == 1:
                raise GraphError(f"cycle through {child!r}")
            if state.get(child) != 2:
                stack.append((child, 0))
        else:
            state[name] = 2
            order.append(name)
    return order


def backprop(nodes: Mapping[str, Sequence[str]], local_grads: Mapping[str, Sequence[float]],
             output: str, order: Sequence[str] | None = None) -> dict[str, float]:
    """d(output)/d(name) for every node of a scalar graph.

    `nodes[name]` lists the inputs of `name` (leaves list none); `local_grads[name][i]` is
    d(name)/d(nodes[name][i]). Nodes that do not reach the output get 0. `order`: the
    graph's `topological_order`, when the caller has it already.
    """
    grads = {name: 0.0 for name in nodes}
    grads[output] = 1.0
    for name in reversed(topological_order(nodes, output) if order is None else order):
        for inp, local in zip(nodes[name], local_grads[name]):
            grads[inp] += grads[name] * local
    return grads


@dataclass
class Node:
    """One node of a graph: an op applied to named inputs, with its parameters."""

    op: str
    args: list[str]
    params: dict[str, float] = field(default_factory=dict)


@dataclass
class Graph:
    """A computation graph over named inputs, of the ops of one pack's table (`ops`)."""

    inputs: list[str]
    nodes: dict[str, Node]
    output: str
    ops: Any  # the pack's Ops table: ops[name] has forward, grads and kinks

    def structure(self) -> dict[str, list[str]]:
        leaves = {name: [] for name in self.inputs}
        return {**leaves, **{name: node.args for name, node in self.nodes.items()}}

    def forward(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        values = {name: np.asarray(inputs[name], dtype=float) for name in self.inputs}
        for name in topological_order(self.structure(), self.output):
            if name in self.nodes:
                node = self.nodes[name]
                fwd = self.ops[node.op].forward
                values[name] = np.asarray(fwd(*(values[a] for a in node.args), **node.params))
        return values

    def backward(self, values: Mapping[str, np.ndarray],
                 upstream: np.ndarray | float = 1.0) -> dict[str, np.ndarray]:
        """Gradient of the output (seeded with `upstream`) with respect to every value."""
        grads = {name: np.zeros_like(v) for name, v in values.items()}
        grads[self.output] = grads[self.output] + upstream
        for name in reversed(topological_order(self.structure(), self.output)):
            node = self.nodes.get(name)
            if node is None:
                continue
            gate = self.ops[node.op]
            args = [values[a] for a in node.args]
            for arg, g in zip(node.args, gate.grads(grads[name], *args, **node.params)):
                grads[arg] = grads[arg] + g  # accumulate: a value may feed several gates
        return grads

    def wire_gradients(self, values: Mapping[str, np.ndarray],
                       grads: Mapping[str, np.ndarray]) -> dict[tuple[str, int], np.ndarray]:
        """The gradient on each wire (node, argument index): one path's contribution.
        A value's total gradient is the sum over the wires leaving it."""
        wires = {}
        for name, node in self.nodes.items():
            gate = self.ops[node.op]
            args = [values[a] for a in node.args]
            for i, g in enumerate(gate.grads(grads[name], *args, **node.params)):
                wires[(name, i)] = g
        return wires

    def kink_distance(self, values: Mapping[str, np.ndarray]) -> float:
        """How far the evaluated graph lies from the nearest relu/max kink or tie."""
        distances = [np.inf]
        for node in self.nodes.values():
            measure = self.ops[node.op].kinks
            if measure is not None:
                distances.append(measure(*(values[a] for a in node.args), **node.params))
        return float(min(distances))
