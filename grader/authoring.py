"""The authoring API: the one grader module a course pack imports.

A pack declares its ops here, micrograd style: each op's reference forward and backward side
by side, with what the grader needs to build fair cases for it (named inputs with shapes over
named dimensions, each dimension's range and the constraints between them, each input's
domain, typed parameters, kinks, the batch axis), its calling convention, and the mistakes
students make in it. This module imports nothing of the grader, so a pack loads without it.

    from grader.authoring import Ops, Mistake, IntRange

    OPS = Ops()

    @OPS.op(inputs={"x": "..."}, params={"alpha": FloatRange(0.01, 0.3)},
            kinks=lambda x, alpha: abs(x).min(),
            backward=lambda dout, x, alpha: (dout * np.where(x > 0, 1.0, alpha),))
    def leaky_relu(x, alpha):
        return np.where(x > 0, x, alpha * x)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Array = np.ndarray
CONVENTIONS = ("plain", "cache", "loss", "stochastic")
DEFAULT_DIM_RANGE = (2, 8)


# ---- input domains: where an input's values are drawn -----------------------------------


@dataclass(frozen=True)
class Sampler:
    """An input's domain. Subclass it (or use `sampler(name, fn)`) for a domain of your own:
    `draw(shape, rng, dims)` returns an array of that shape."""

    name: str = "real"
    differentiable: bool = True  # False for labels and other integers

    def draw(self, shape: tuple[int, ...], rng: np.random.Generator, dims: dict) -> Array:
        return rng.normal(0.0, 1.0, size=shape)


@dataclass(frozen=True)
class Positive(Sampler):
    """Values drawn uniformly from [low, high], away from zero (a log's or a root's input)."""

    name: str = "positive"
    low: float = 0.5
    high: float = 2.5

    def draw(self, shape, rng, dims):
        return rng.uniform(self.low, self.high, size=shape)


@dataclass(frozen=True)
class Nonzero(Sampler):
    """Both signs, magnitude in [low, high]: clear of a pole at 0."""

    name: str = "nonzero"
    low: float = 0.5
    high: float = 2.0

    def draw(self, shape, rng, dims):
        return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(self.low, self.high, size=shape)


@dataclass(frozen=True)
class Labels(Sampler):
    """Class labels in 0..C-1 (C a named dimension). One class is never a label and, with
    two rows or more, two classes are: otherwise `p[:, y] -= 1` (every row at every label's
    column) equals the true gradient by chance, and a score would depend on the seed."""

    name: str = "label"
    dim: str = "C"
    differentiable: bool = False

    def draw(self, shape, rng, dims):
        classes = dims[self.dim]
        left_out = int(rng.integers(0, classes))
        used = np.array([c for c in range(classes) if c != left_out])
        labels = rng.choice(used, size=shape)
        flat = labels.reshape(-1)
        if flat.size >= 2 and len(used) >= 2 and np.all(flat == flat[0]):
            flat[int(rng.integers(0, flat.size))] = rng.choice(used[used != flat[0]])
        return labels


@dataclass(frozen=True)
class Probability(Sampler):
    """Values in (low, high) inside (0, 1): clear of log(0) and of saturation."""

    name: str = "probability"
    low: float = 0.05
    high: float = 0.95

    def draw(self, shape, rng, dims):
        return rng.uniform(self.low, self.high, size=shape)


@dataclass(frozen=True)
class Spread(Sampler):
    """Real values with a real spread and an offset per column: a normalisation that uses
    the wrong axis, or forgets the mean, cannot hide behind standard-normal data."""

    name: str = "spread"
    scale: tuple[float, float] = (0.5, 4.0)
    offset: tuple[float, float] = (-3.0, 3.0)

    def draw(self, shape, rng, dims):
        if not shape:
            return np.asarray(rng.normal())
        columns = shape[1:] or (1,)
        scale = rng.uniform(*self.scale, size=columns)
        offset = rng.uniform(*self.offset, size=columns)
        return (rng.normal(size=shape) * scale + offset).reshape(shape)


@dataclass(frozen=True)
class Integers(Sampler):
    """Integers in [low, high] (not differentiated)."""

    name: str = "integer"
    low: int = 0
    high: int = 9
    differentiable: bool = False

    def draw(self, shape, rng, dims):
        return rng.integers(self.low, self.high + 1, size=shape)


@dataclass(frozen=True)
class _Custom(Sampler):
    """A domain of a pack's own: `sampler(name, fn)`."""

    fn: Callable[..., Array] | None = None

    def draw(self, shape, rng, dims):
        return np.asarray(self.fn(shape, rng, dims))


def sampler(name: str, fn: Callable[[tuple, np.random.Generator, dict], Array],
            differentiable: bool = True) -> Sampler:
    """A domain of your own: `fn(shape, rng, dims)` returns the values."""
    return _Custom(name, differentiable, fn)


def real() -> Sampler:
    return Sampler()


def positive(low: float = 0.5, high: float = 2.5) -> Sampler:
    return Positive(low=low, high=high)


def nonzero(low: float = 0.5, high: float = 2.0) -> Sampler:
    return Nonzero(low=low, high=high)


def labels(dim: str) -> Sampler:
    return Labels(dim=dim)


def probability(low: float = 0.05, high: float = 0.95) -> Sampler:
    return Probability(low=low, high=high)


def spread(scale: tuple[float, float] = (0.5, 4.0),
           offset: tuple[float, float] = (-3.0, 3.0)) -> Sampler:
    return Spread(scale=scale, offset=offset)


def integers(low: int, high: int) -> Sampler:
    return Integers(low=low, high=high)


def domain(spec: str | Sampler) -> Sampler:
    """A sampler from its short name: real, positive, nonzero, probability, spread,
    label:C (C a dimension), integer:LOW:HIGH."""
    if isinstance(spec, Sampler):
        return spec
    name, _, rest = spec.partition(":")
    simple = {"real": real, "positive": positive, "nonzero": nonzero,
              "probability": probability, "spread": spread}
    if name in simple and not rest:
        return simple[name]()
    if name == "label" and rest:
        return labels(rest)
    if name == "integer" and rest.count(":") == 1:
        low, high = rest.split(":")
        return integers(int(low), int(high))
    raise ValueError(f"unknown domain {spec!r}: use real, positive, nonzero, probability, "
                     "spread, label:DIM, integer:LOW:HIGH, or a Sampler")


# ---- parameters: the non-array arguments ------------------------------------------------


class Param:
    """A parameter's values: `draw(rng)` gives one."""

    def draw(self, rng: np.random.Generator) -> Any:
        raise NotImplementedError

    def members(self) -> dict[str, Param]:
        return {}


@dataclass(frozen=True)
class Factor(Param):
    """A float of either sign with magnitude in [low, high]: never 0 or ±1, so forgetting
    it, or using it where it does not belong, always shows."""

    low: float = 1.5
    high: float = 3.0

    def draw(self, rng):
        return float(rng.choice([-1.0, 1.0]) * rng.uniform(self.low, self.high))


@dataclass(frozen=True)
class FloatRange(Param):
    """A float drawn uniformly from [low, high]."""

    low: float
    high: float

    def draw(self, rng):
        return float(rng.uniform(self.low, self.high))


@dataclass(frozen=True)
class IntRange(Param):
    """An integer drawn from low to high, both included."""

    low: int
    high: int

    def draw(self, rng):
        return int(rng.integers(self.low, self.high + 1))


@dataclass(frozen=True)
class Choice(Param):
    """One of the values, drawn with equal chances."""

    values: tuple

    def __init__(self, values: Sequence):
        object.__setattr__(self, "values", tuple(values))

    def draw(self, rng):
        return self.values[int(rng.integers(0, len(self.values)))]


@dataclass(frozen=True)
class Fixed(Param):
    """Always this value (a parameter the student's code gets but the cases never vary)."""

    value: Any

    def draw(self, rng):
        return self.value


class Group(Param):
    """Parameters passed together as one dict argument (CS231n's `conv_param`, `bn_param`).
    Its members' names may appear in dimension constraints."""

    def __init__(self, **members: Param | Any):
        self._members = {k: v if isinstance(v, Param) else Fixed(v) for k, v in members.items()}

    def members(self) -> dict[str, Param]:
        return dict(self._members)

    def draw(self, rng):
        return {k: p.draw(rng) for k, p in self._members.items()}

    def __repr__(self) -> str:
        return f"Group({', '.join(self._members)})"


# ---- mistakes: what a wrong answer most likely did --------------------------------------


@dataclass(frozen=True)
class Mistake:
    """A known mistake: the gradient of `output` (an input's name) it produces, computed
    from the case as `wrong(dout, *inputs, *params)` (None when this case cannot tell it
    from the truth), the lecture's idea that names it, and the right formula (shown only
    when the course's reveal policy allows)."""

    output: str
    idea: str
    wrong: Callable[..., Array | None]
    formula: str = ""


# ---- ops --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    """A differentiable op: a reference forward and backward and what a fair case needs.

    `inputs` name the array arguments in order, each with its shape over named dimensions
    ("N D"; "..." is any shape shared by every "..." input). `dims` bounds a dimension
    (default 2..8, all sizes distinct where the ranges allow); `constraints` are Python
    expressions over dimensions and parameters that every case satisfies. `params` are the
    non-array arguments after the inputs. `backward(dout, *inputs, *params)` returns the
    gradient of every differentiable input, in order. `kinks(*inputs, *params)` is the
    distance to the nearest kink or tie (cases stay clear of it). `batch` names the batch
    dimension. `convention` says how students write it: plain, cache, loss or stochastic.
    `terms` split the backward into named paths (each returns the gradients, like the
    backward), so a hint can say which path is missing.
    """

    name: str
    forward: Callable[..., Any]
    backward: Callable[..., Any]
    inputs: tuple[str, ...]
    shapes: tuple[str, ...]
    output: str = "..."
    formula: str = ""
    domains: tuple[Sampler, ...] = ()
    params: tuple[tuple[str, Param], ...] = ()
    dims: tuple[tuple[str, tuple[int, int]], ...] = ()
    constraints: tuple[str, ...] = ()
    kinks: Callable[..., float] | None = None
    batch: str | None = None
    convention: str = "plain"
    terms: tuple[tuple[str, Callable[..., Any]], ...] = ()
    mistakes: tuple[Mistake, ...] = ()
    idea: str = ""  # the lecture's one-line idea of this gate (worked-example hints)
    swap_idea: tuple[str, str] | None = None  # what swapped gradients mean here
    overflow: str = ""  # why its gradient goes non-finite on large inputs, and the way out
    matmul: str = ""  # what a failed `@` means in this op's backward
    state: tuple[str, ...] = ()  # dict parameters whose array entries the forward updates
    test_mode: Mapping[str, Any] | None = None  # entries that switch a stateful op to test
    stochastic: Stochastic | None = None

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.params)

    @property
    def differentiable(self) -> tuple[bool, ...]:
        return tuple(d.differentiable for d in self.domains)

    @property
    def grad_inputs(self) -> tuple[str, ...]:
        return tuple(n for n, d in zip(self.inputs, self.differentiable) if d)

    @property
    def elementwise(self) -> bool:
        return all(s == "..." for s in self.shapes)

    def grads(self, dout: Array, *args, **params) -> tuple[Array, ...]:
        """The backward's result, always as a tuple (one entry per differentiable input)."""
        out = self.backward(dout, *args, **params)
        return tuple(out) if isinstance(out, (tuple, list)) else (out,)

    def term_grads(self, dout: Array, *args) -> dict[str, tuple[Array, ...]]:
        out = {}
        for name, term in self.terms:
            value = term(dout, *args)
            out[name] = tuple(value) if isinstance(value, (tuple, list)) else (value,)
        return out


@dataclass(frozen=True)
class Stochastic:
    """How a random op (dropout) is judged: its forward statistically — the fraction of
    entries it keeps (`kept(params)`), and the expectation `E[forward] = expectation(*inputs,
    *params)` — and, with `test_mode` merged into its dict parameter `param`, exactly as
    `expectation`; its backward against the numerical gradient of the student's own forward
    at a fixed seed (`seed`: the key of `param` that fixes the randomness)."""

    param: str
    kept: Callable[..., float]
    expectation: Callable[..., Array]
    test_mode: Mapping[str, Any] = field(default_factory=dict)
    seed: str = "seed"


@dataclass(frozen=True)
class Function:
    """A plain function whose whole output is compared (e.g. the ReLU Jacobian), checked
    against the numbers as the Jacobian of `jacobian_of`."""

    name: str
    compute: Callable[..., Array]
    inputs: tuple[str, ...]
    shapes: tuple[str, ...]
    output: str
    jacobian_of: str
    formula: str = ""
    mistakes: tuple[tuple[str, Callable[..., Array]], ...] = ()  # (idea, wrong(*inputs))


class Ops:
    """A pack's table of ops: declare each with `@OPS.op(...)` on its reference forward."""

    def __init__(self) -> None:
        self._ops: dict[str, Op] = {}
        self._functions: dict[str, Function] = {}

    def op(self, name: str | None = None, *, inputs: Mapping[str, str],
           backward: Callable[..., Any], output: str = "...", formula: str = "",
           domains: Mapping[str, str | Sampler] | None = None,
           params: Mapping[str, Param] | None = None,
           dims: Mapping[str, tuple[int, int]] | None = None,
           constraints: Sequence[str] = (), kinks: Callable[..., float] | None = None,
           batch: str | None = None, convention: str = "plain",
           terms: Mapping[str, Callable[..., Any]] | None = None,
           mistakes: Sequence[Mistake] = (), **notes: Any) -> Callable[[Callable], Callable]:
        """Declare the decorated function as an op's reference forward (see `Op`)."""
        if convention not in CONVENTIONS:
            raise ValueError(f"unknown convention {convention!r}; one of {', '.join(CONVENTIONS)}")

        def declare(forward: Callable) -> Callable:
            op_name = name or forward.__name__
            if op_name in self._ops:
                raise ValueError(f"op {op_name!r} is declared twice")
            unknown = set(domains or {}) - set(inputs)
            if unknown:
                raise ValueError(f"op {op_name!r}: domains name no input: {sorted(unknown)}")
            self._ops[op_name] = Op(
                name=op_name, forward=forward, backward=backward, inputs=tuple(inputs),
                shapes=tuple(inputs.values()), output=output, formula=formula,
                domains=tuple(domain((domains or {}).get(k, "real")) for k in inputs),
                params=tuple((params or {}).items()), dims=tuple((dims or {}).items()),
                constraints=tuple(constraints), kinks=kinks, batch=batch,
                convention=convention, terms=tuple((terms or {}).items()),
                mistakes=tuple(mistakes), **notes)
            return forward

        return declare

    def function(self, name: str | None = None, *, inputs: Mapping[str, str], output: str,
                 jacobian_of: str, formula: str = "",
                 mistakes: Sequence[tuple[str, Callable[..., Array]]] = ()
                 ) -> Callable[[Callable], Callable]:
        """Declare a plain function exercise's reference (compared whole); `mistakes` are
        (idea, wrong(*inputs)) pairs."""

        def declare(compute: Callable) -> Callable:
            fn_name = name or compute.__name__
            self._functions[fn_name] = Function(fn_name, compute, tuple(inputs),
                                                tuple(inputs.values()), output, jacobian_of,
                                                formula, tuple(mistakes))
            return compute

        return declare

    def __getitem__(self, name: str) -> Op:
        try:
            return self._ops[name]
        except KeyError:
            raise KeyError(f"unknown op {name!r}; known ops: {', '.join(sorted(self._ops))}"
                           ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._ops

    def __iter__(self) -> Iterator[str]:
        return iter(self._ops)

    def __len__(self) -> int:
        return len(self._ops)

    def get(self, name: str) -> Op | None:
        return self._ops.get(name)

    @property
    def functions(self) -> dict[str, Function]:
        return dict(self._functions)


def dim_range(op: Op, letter: str) -> tuple[int, int]:
    return dict(op.dims).get(letter, DEFAULT_DIM_RANGE)


def check_constraints(op: Op, dims: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
    """Do these sizes and parameters satisfy every constraint of the op?"""
    env: dict[str, Any] = {"math": math}
    for name, value in params.items():
        env.update(value if isinstance(value, dict) else {name: value})
    env.update({k: v for k, v in dims.items() if k != "..."})
    return all(bool(eval(_compiled(rule), {"__builtins__": {}}, env))
               for rule in op.constraints)


@functools.cache
def _compiled(rule: str):
    return compile(rule, f"<constraint {rule!r}>", "eval")


__all__ = ["Ops", "Op", "Function", "Mistake", "Stochastic", "Sampler", "sampler", "real",
           "positive", "nonzero", "labels", "probability", "spread", "integers", "domain",
           "Param", "Factor", "FloatRange", "IntRange", "Choice", "Fixed", "Group",
           "CONVENTIONS"]
