"""Seeded test inputs, made in the trusted parent.

Inputs respect each gate's domain (positive for log, away from zero for 1/x), stay more than
10·h from any kink or tie, and use distinct sizes for every named dimension so that a
transpose or a wrong-axis sum can never hide behind a square shape. Upstream gradients are
random and never all ones, so forgetting to multiply by them always shows.
"""

from __future__ import annotations

import zlib

import numpy as np

from grader.authoring import Labels, Op, check_constraints, dim_range
from reference.graph import Graph

H = 1e-5  # central-difference step
KINK_MARGIN = 10 * H
MAX_RESAMPLES = 1000


def rng_for(seed: int, exercise_id: str, purpose: str = "") -> np.random.Generator:
    """An independent stream per (seed, exercise, purpose): `--only` sees the same cases."""
    return np.random.default_rng([seed, zlib.crc32(f"{exercise_id}/{purpose}".encode())])


def distinct_sizes(rng: np.random.Generator, count: int, low: int = 2,
                   high: int = 8) -> list[int]:
    return [int(v) for v in rng.choice(np.arange(low, high + 1), size=count, replace=False)]


def _letters(op: Op) -> list[str]:
    return sorted({s for sig in op.shapes for s in sig.split() if s != "..."} |
                  {d.dim for d in op.domains if isinstance(d, Labels)})


def random_dims(op: Op, rng: np.random.Generator) -> dict[str, tuple[int, ...] | int]:
    """Sizes for every symbol of an op's shape signature, all different from each other
    (the lecture's ops: no ranges or constraints declared)."""
    letters = _letters(op)
    ndim = int(rng.integers(1, 4))
    sizes = distinct_sizes(rng, len(letters) + ndim)
    labels = {d.dim for d in op.domains if isinstance(d, Labels)}
    for k, letter in enumerate(letters):  # class counts take the largest sizes (>= 3): see
        if letter in labels:              # `Labels`, which needs two classes and one spare
            top = k + int(np.argmax(sizes[k:len(letters)]))
            sizes[k], sizes[top] = sizes[top], sizes[k]
    dims: dict[str, tuple[int, ...] | int] = dict(zip(letters, sizes))
    dims["..."] = tuple(sizes[len(letters):])
    return dims


def declared_dims(op: Op, rng: np.random.Generator, params: list, distinct: bool = True,
                  tries: int = 20) -> dict | None:
    """Sizes within each dimension's declared range that satisfy the op's constraints with
    these parameters, distinct from each other if asked and the ranges allow (None: not
    found in `tries`: the caller draws other parameters)."""
    letters = _letters(op)
    labels = {d.dim for d in op.domains if isinstance(d, Labels)}
    named = dict(zip(op.param_names, params))
    ranges = [(max(low, 3) if letter in labels else low, high)
              for letter, (low, high) in ((k, dim_range(op, k)) for k in letters)]
    for _ in range(tries):
        dims: dict = {}
        for letter, (low, high) in zip(letters, ranges):
            free = [v for v in range(low, high + 1) if v not in dims.values()]
            pool = free if distinct and free else range(low, high + 1)
            dims[letter] = int(pool[int(rng.integers(0, len(pool)))])
        dims["..."] = tuple(distinct_sizes(rng, int(rng.integers(1, 4))))
        if check_constraints(op, dims, named):
            return dims
    return None


def draw_case(op: Op, rng: np.random.Generator, dims: dict | None = None,
              scalar: bool = False, extreme: dict | None = None) -> tuple[list, list]:
    """(inputs, params) of one fair case: sizes within range and constraints, inputs in
    their domains and clear of every kink and tie."""
    if op.dims or op.constraints or op.params and op.kinks:  # parameters first: constraints
        # and kinks may involve them (the lecture's ops draw them last, as they always did)
        for attempt in range(MAX_RESAMPLES):
            params = gate_params(op, rng)
            found = dims or declared_dims(op, rng, params, attempt < MAX_RESAMPLES // 2)
            if found is not None:
                break
        else:
            raise RuntimeError(f"no sizes of {op.name} satisfy its constraints "
                               f"({'; '.join(op.constraints)}) within its dimension ranges")
    else:
        found, params = dims or random_dims(op, rng), None
    if scalar:
        found = {**found, "...": ()}
    inputs = gate_inputs(op, found, rng, extreme, params)
    return inputs, params if params is not None else gate_params(op, rng)


def shape_of(signature: str, dims: dict) -> tuple[int, ...]:
    shape: tuple[int, ...] = ()
    for symbol in signature.split():
        shape += dims[symbol] if symbol == "..." else (dims[symbol],)
    return shape


def gate_inputs(op: Op, dims: dict, rng: np.random.Generator, extreme: dict | None = None,
                params: list | None = None) -> list[np.ndarray]:
    """Inputs for an op, resampled until they lie clear of every kink and tie."""
    for _ in range(MAX_RESAMPLES):
        inputs = []
        for name, sig, domain in zip(op.inputs, op.shapes, op.domains):
            shape = shape_of(sig, dims)
            value = domain.draw(shape, rng, dims)
            spec = (extreme or {}).get(name)
            if spec and "magnitude" in spec:
                low, high = spec["magnitude"]
                value = _both_signs(shape, rng) * rng.uniform(low, high, size=shape)
            if spec and "offset" in spec:
                value = value + _offsets(spec["offset"], shape)
            inputs.append(np.asarray(value))
        if op.kinks is None or op.kinks(*inputs, *(params or [])) > KINK_MARGIN:
            return inputs
    raise RuntimeError(f"could not sample inputs for {op.name} away from its kinks")


def _both_signs(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Random signs, both present: a formula that overflows on one side always shows."""
    signs = np.resize([1.0, -1.0], int(np.prod(shape)))
    return rng.permutation(signs).reshape(shape)


def _offsets(offset: float | list[float], shape: tuple[int, ...]) -> np.ndarray | float:
    """One offset for all, or a list that shifts the rows in turn: rows far apart defeat a
    shift by one maximum for the whole array."""
    if not isinstance(offset, list):
        return offset
    rows = np.resize(np.asarray(offset, dtype=float), shape[:1] or (1,))
    return rows.reshape(shape[:1] + (1,) * (len(shape) - 1)) if shape else rows[0]


def gate_params(op: Op, rng: np.random.Generator) -> list:
    """The op's parameters, each drawn from its declared values (the lecture's constants
    are never 0 or ±1, so forgetting them shows)."""
    return [param.draw(rng) for _, param in op.params]


def upstream(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """A random upstream gradient: mixed signs and magnitudes, never all ones."""
    if shape == ():
        return np.asarray(rng.choice([-1.0, 1.0]) * rng.uniform(1.5, 3.0))
    return rng.normal(0.0, 1.5, size=shape)


def graph_is_kink_safe(graph: Graph, values: dict) -> bool:
    return graph.kink_distance(values) > KINK_MARGIN


# ---- graphs for the general backprop exercise ------------------------------------------


def _local(rng: np.random.Generator, size: int | None = None):
    """Local gradients of mixed sign, away from 0 and ±1."""
    return rng.choice([-1.0, 1.0], size=size) * rng.uniform(0.5, 2.0, size=size)


def chain_graph(rng: np.random.Generator, length: int, name: str = "n"
                ) -> tuple[dict, dict, str]:
    """A chain n0 -> n1 -> ... whose local gradients multiply to a moderate number."""
    names = [f"{name}{i}" for i in range(length)]
    signs = rng.choice([-1.0, 1.0], size=length - 1)
    locals_ = signs * np.exp(rng.normal(0.0, 0.5 / np.sqrt(length), size=length - 1))
    nodes = {names[0]: [], **{b: [a] for a, b in zip(names, names[1:])}}
    grads = {names[0]: [], **{b: [g] for b, g in zip(names[1:], locals_.tolist())}}
    return nodes, grads, names[-1]


def fan_out_graph(rng: np.random.Generator) -> tuple[dict, dict, str]:
    """x feeds three gates and y two, so their gradients must be summed over paths."""
    nodes = {"x": [], "y": [], "a": ["x", "y"], "b": ["x"], "c": ["a", "x", "y"],
             "d": ["b", "c"], "out": ["d", "a"]}
    return nodes, _random_locals(nodes, rng), "out"


def unreachable_graph(rng: np.random.Generator) -> tuple[dict, dict, str]:
    """Some nodes never reach the output: their gradient is 0."""
    nodes = {"x": [], "y": [], "z": [], "a": ["x", "y"], "dead": ["a", "z"], "out": ["a", "y"],
             "island": ["z"]}
    return nodes, _random_locals(nodes, rng), "out"


def repeated_input_graph(rng: np.random.Generator) -> tuple[dict, dict, str]:
    """f = x * x and g = f + f: the same input twice in one node counts twice."""
    x = float(rng.uniform(1.5, 3.0))
    nodes = {"x": [], "f": ["x", "x"], "g": ["f", "f"]}
    grads = {"x": [], "f": [x, x], "g": [1.0, 1.0]}
    return nodes, grads, "g"


def _random_locals(nodes: dict, rng: np.random.Generator) -> dict:
    return {name: [float(v) for v in _local(rng, len(inputs))] for name, inputs in nodes.items()}


def shuffled(mapping: dict, rng: np.random.Generator) -> dict:
    keys = list(mapping)
    return {keys[i]: mapping[keys[i]] for i in rng.permutation(len(keys))}


def variant_inputs(exercise, identity: str, variant_seed: int) -> dict[str, float]:
    """A student's own numbers for a worked example: small nonzero integers drawn from the
    exercise's ranges, seeded by the course's public variant seed and the student's
    identity, clear of kinks and ties, and with every asked gradient telling."""
    key = identity.strip().lower()
    rng = np.random.default_rng([variant_seed, zlib.crc32(key.encode()),
                                 zlib.crc32(exercise.id.encode())])
    graph = exercise.graph()
    for _ in range(MAX_RESAMPLES):
        drawn = {}
        for name, (low, high) in exercise.spec["variants"].items():
            choices = [v for v in range(low, high + 1) if v != 0]
            drawn[name] = float(rng.choice(choices))
        with np.errstate(all="ignore"):
            values = graph.forward(exercise.graph_inputs(drawn))
            grads = graph.backward(values, exercise.graph_upstream())
        finite = all(np.all(np.isfinite(v)) for v in list(values.values()) + list(grads.values()))
        # Every asked gradient must be 0 by structure or clearly larger than the rounding
        # tolerance: otherwise "all zeros" would pass a saturated variant.
        clear = 5 * exercise.tolerance.atol
        telling = all(float(np.abs(grads[k])) == 0 or float(np.abs(grads[k])) > clear
                      for k in exercise.spec.get("ask", []))
        if finite and telling and graph_is_kink_safe(graph, values):
            return drawn
    raise RuntimeError(f"no variant of {exercise.id} is clear of kinks")
