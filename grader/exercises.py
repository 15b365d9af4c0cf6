"""Load exercises and assignments from YAML into typed objects, validated.

Every problem is reported with its file, exercise and field, all at once, so that course
staff can fix a whole folder in one pass. Structure is checked by the JSON schemas in
`schemas/`; meaning (known ops, acyclic graphs, matching shapes) is checked here against
the reference.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from collections.abc import Iterable

import numpy as np

from grader import packs, yamlfiles
from grader.authoring import Op
from grader.packs import PACKAGE_DIR, Pack, PackError, data_dir
from reference.graph import Graph, GraphError, Node, topological_order

ASSIGNMENT_FILE = "assignment.yaml"
# Modules that would compute gradients for the student; an assignment's policy may override.
DEFAULT_FORBIDDEN_MODULES = ("torch", "jax", "tensorflow", "autograd")


def default_assignment_path() -> Path:
    """The bundled assignment: the built-in pack's (the lecture's, or in an autograder
    built for a course pack, that pack's)."""
    try:
        return packs.builtin().assignment
    except PackError:
        return data_dir("exercises") / ASSIGNMENT_FILE


def exercise_files_in(folder: Path) -> list[Path]:
    """The exercise files of a folder: its YAML files but the assignment and pack.yaml."""
    return sorted(p for p in folder.glob("*.yaml")
                  if p.name not in (ASSIGNMENT_FILE, packs.PACK_FILE))


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an exercise file."""

    file: str
    exercise: str | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = [self.file]
        if self.exercise:
            where.append(f"exercise {self.exercise!r}")
        if self.field:
            where.append(f"field {self.field!r}")
        return f"{', '.join(where)}: {self.message}"


class ExerciseError(Exception):
    """Raised with every problem found while loading."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class Tolerance:
    """How close a student's value must be to the reference's: rtol relative to each
    entry, plus atol relative to the largest one (`judging.tolerance_array`)."""

    rtol: float = 0.0
    atol: float = 0.0

    @classmethod
    def from_spec(cls, spec: dict | None, default: Tolerance) -> Tolerance:
        return cls(**{**default.__dict__, **(spec or {})})


# What an assignment's `defaults` (or an exercise's `tolerance`) does not say otherwise.
# Gradients: |student - true| <= atol * max|true| + rtol * |true| elementwise. Honest
# float32 arithmetic lands near 1e-6; real mistakes are off by factors, signs and masks.
GATE_TOLERANCE = Tolerance(rtol=1e-3, atol=1e-5)
# Worked examples are computed by hand: answers rounded like the slides must pass. Here
# atol is absolute: |student - true| <= atol + rtol * |true|.
GRAPH_TOLERANCE = Tolerance(atol=0.015)


@dataclass
class Exercise:
    """One exercise, with the assignment's points, visibility and reveal policy folded in."""

    id: str
    title: str
    kind: str
    source: Path
    spec: dict[str, Any]
    pack: Pack
    checks: dict[str, float] = field(default_factory=dict)
    tolerance: Tolerance = GATE_TOLERANCE
    points: float = 0.0
    visibility: str = "visible"
    reveal: str = "mistakes"  # what its feedback may show: mistakes, formula or answers

    @property
    def description(self) -> str:
        return self.spec.get("description", "")

    @property
    def function(self) -> str | None:
        return self.spec.get("function") or self.spec.get("answer")

    @property
    def functions(self) -> list[str]:
        """Every student function this exercise calls: its own, the forward that makes a
        backward's cache, the gates a composition chains."""
        names = [self.function, self.spec.get("forward"),
                 *(self.spec.get("functions") or {}).values()]
        return list(dict.fromkeys(n for n in names if n))

    @property
    def op(self) -> Op:
        return self.pack.ops[self.spec["gate"]]

    def graph(self) -> Graph:
        g = self.spec["graph"]
        nodes = {name: Node(n["op"], list(n["args"]),
                            {k: v for k, v in n.items() if k not in ("op", "args")})
                 for name, n in g["nodes"].items()}
        return Graph(list(g["inputs"]), nodes, g["output"], self.pack.ops)

    def graph_inputs(self, overrides: dict | None = None) -> dict[str, np.ndarray]:
        inputs = {**self.spec["graph"]["inputs"], **(overrides or {})}
        return {k: np.asarray(v, dtype=float) for k, v in inputs.items()}

    def graph_upstream(self) -> np.ndarray:
        return np.asarray(self.spec["graph"].get("upstream", 1.0), dtype=float)


@dataclass
class Assignment:
    """The exercises a submission is graded on, with their points and limits."""

    title: str
    source: Path
    exercises: list[Exercise]
    limits: dict[str, Any] = field(default_factory=dict)
    policy: dict[str, Any] = field(default_factory=dict)
    late: dict[str, Any] = field(default_factory=dict)  # the late policy (`gradebook`)
    pack: Pack | None = None  # the course pack the assignment belongs to

    def get(self, exercise_id: str) -> Exercise:
        for ex in self.exercises:
            if ex.id == exercise_id:
                return ex
        import difflib  # only for an unknown id

        ids = [ex.id for ex in self.exercises]
        close = difflib.get_close_matches(exercise_id, ids, n=1)
        guess = f"did you mean {close[0]}? " if close else ""
        raise KeyError(f"no exercise {exercise_id!r} in this assignment; {guess}it has: "
                       f"{', '.join(ids)}")

    @property
    def max_score(self) -> float:
        return sum(ex.points for ex in self.exercises)

    @property
    def functions(self) -> set[str]:
        """The names the submission must define: functions and answer dicts, and the
        gates a composed exercise (the two-layer net) chains."""
        return {name for ex in self.exercises for name in ex.functions}

    @property
    def student_file(self) -> str:
        """The name of the student's file: the pack's template's (backprop.py)."""
        template = self.pack.template if self.pack else None
        return template.name if template else "backprop.py"

    @property
    def variant_seed(self) -> int | None:
        return self.policy.get("variant_seed")

    @property
    def forbidden_modules(self) -> list[str]:
        return list(self.policy.get("forbidden_modules", DEFAULT_FORBIDDEN_MODULES))

    def only(self, ids: Iterable[str]) -> Assignment:
        """The same assignment restricted to some exercises, in the assignment's order
        (unknown ids raise KeyError)."""
        wanted = {self.get(i).id for i in ids}
        chosen = [ex for ex in self.exercises if ex.id in wanted]
        return Assignment(self.title, self.source, chosen, self.limits, self.policy, self.late,
                          self.pack)

    @property
    def staff_paths(self) -> list[Path]:
        """What a submission must never see: the assignment's folder and every pack's."""
        paths = [self.source.parent]
        for pack in dict.fromkeys([self.pack, *(ex.pack for ex in self.exercises)]):
            paths += pack.staff_paths if pack else []
        return list(dict.fromkeys(paths))


@cache
def _schema(name: str):
    import jsonschema  # loaded only when a file is not known to be valid (see below)

    schema = json.loads((PACKAGE_DIR / "schemas" / f"{name}.schema.json").read_text())
    if name != "exercise":  # share the exercise schema's definitions
        schema["$defs"] = json.loads(
            (PACKAGE_DIR / "schemas" / "exercise.schema.json").read_text())["$defs"]
    return jsonschema.Draft202012Validator(schema)


def _read_yaml(path: Path) -> tuple[Any, list[Problem]]:
    try:
        return yamlfiles.load(path), []
    except OSError as e:
        return None, [Problem(str(path), None, None, f"cannot read: {e.strerror}")]
    except UnicodeDecodeError:
        return None, [Problem(str(path), None, None, "not UTF-8 text")]
    except yamlfiles.error() as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return None, [Problem(str(path), None, None,
                              f"not valid YAML{where}: {getattr(e, 'problem', e)}")]
VALID_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / \
    "backprop-grader" / "schema-valid"


@cache
def _schema_digest(schema: str) -> bytes:
    return hashlib.sha256((PACKAGE_DIR / "schemas" / f"{schema}.schema.json").read_bytes()).digest()


@cache
def _valid_keys() -> set[str]:
    try:
        return set(VALID_CACHE.read_text().split())
    except OSError:
        return set()


def _known_valid(data: Any, schema: str) -> tuple[bool, str]:
    """Has this exact content passed this exact schema before? (A cache of digests, so
    that a `check` need not load jsonschema for course files that have not changed.)"""
    digest = hashlib.sha256(_schema_digest(schema) +
                            json.dumps(data, sort_keys=True, default=str).encode())
    key = digest.hexdigest()
    return key in _valid_keys(), key


def _remember_valid(key: str) -> None:
    _valid_keys().add(key)
    try:
        VALID_CACHE.parent.mkdir(parents=True, exist_ok=True)
        with open(VALID_CACHE, "a") as f:
            f.write(key + "\n")
    except OSError:
        pass  # a read-only home: validate every time


def _schema_problems(data: Any, schema: str, path: Path, ex_id: str | None) -> list[Problem]:
    known, key = _known_valid(data, schema)
    if known:
        return []
    problems = []
    for err in sorted(_schema(schema).iter_errors(data), key=lambda e: list(e.absolute_path)):
        where = ".".join(str(p) for p in err.absolute_path) or None
        message = err.message
        if err.validator == "additionalProperties" or (
                err.validator == "patternProperties" and not err.absolute_path):
            message = f"unexpected field: {message}"
        problems.append(Problem(str(path), ex_id, where, message))
    if not problems:
        _remember_valid(key)
    return problems


def _graph_problems(ex: Exercise) -> list[Problem]:
    """Unknown ops, wrong arity, missing params, undefined names, cycles, bad shapes."""
    spec = ex.spec["graph"]
    inputs, nodes = spec["inputs"], spec["nodes"]

    def problem(where: str, message: str) -> Problem:
        return Problem(str(ex.source), ex.id, where, message)

    problems = []
    for name, node in nodes.items():
        where = f"graph.nodes.{name}"
        if name in inputs:
            problems.append(problem(where, f"{name!r} is both an input and a node"))
        gate = ex.pack.ops.get(node["op"])
        if gate is None:
            problems.append(problem(f"{where}.op", _unknown_op(ex, node["op"])))
            continue
        if len(node["args"]) != len(gate.inputs):
            problems.append(problem(f"{where}.args", f"{gate.name} takes {len(gate.inputs)} "
                                                     f"input(s), got {len(node['args'])}"))
        params = {k for k in node if k not in ("op", "args")}
        if params != set(gate.param_names):
            want = ", ".join(gate.param_names) or "none"
            problems.append(problem(where, f"{gate.name} takes parameters: {want}; "
                                           f"got: {', '.join(sorted(params)) or 'none'}"))
        for arg, domain in zip(node["args"], gate.domains):
            if arg not in inputs and arg not in nodes:
                problems.append(problem(f"{where}.args", f"missing input {arg!r}: it is neither "
                                                         "a graph input nor a node"))
            if not domain.differentiable:
                problems.append(problem(f"{where}.args", f"{arg!r} is where {gate.name} takes "
                                        "integer class labels; a worked example's values are "
                                        "real numbers: grade this op in a gate exercise"))
    if spec["output"] not in nodes:
        problems.append(problem("graph.output", f"output {spec['output']!r} is not a node"))
    if problems:
        return problems
    graph = ex.graph()
    try:
        topological_order(graph.structure(), graph.output)
        for name in nodes:  # a cycle may sit off the output's path
            topological_order(graph.structure(), name)
    except GraphError as e:
        return [problem("graph.nodes", str(e))]
    return _evaluation_problems(ex, graph, problem)


def _evaluation_problems(ex: Exercise, graph: Graph, problem) -> list[Problem]:
    values = {k: v for k, v in ex.graph_inputs().items()}
    for name in topological_order(graph.structure(), graph.output):
        node = graph.nodes.get(name)
        if node is None:
            continue
        args = [values[a] for a in node.args]
        try:
            with np.errstate(all="raise"):
                values[name] = np.asarray(ex.pack.ops[node.op].forward(*args, **node.params))
        except (ValueError, FloatingPointError, IndexError, TypeError) as e:
            shapes = ", ".join(str(a.shape) for a in args)
            return [problem(f"graph.nodes.{name}", f"{node.op} cannot take inputs of shapes "
                                                   f"{shapes}: {e}")]
    upstream = ex.graph_upstream()
    out_shape = values[graph.output].shape
    if upstream.shape not in ((), out_shape):
        return [problem("graph.upstream", f"shape mismatch: upstream has shape {upstream.shape}, "
                                          f"the output {graph.output!r} has {out_shape}")]
    problems = []
    expected = ex.spec.get("expected", {})
    for section in ("values", "grads"):
        for name, value in expected.get(section, {}).items():
            where = f"expected.{section}.{name}"
            if name not in values:
                problems.append(problem(where, f"{name!r} is not a value of the graph"))
            elif np.shape(value) != values[name].shape:
                problems.append(problem(where, f"shape mismatch: {np.shape(value)} given, "
                                               f"{name!r} has shape {values[name].shape}"))
    for name in ex.spec.get("ask", []):
        if name not in values:
            problems.append(problem("ask", f"{name!r} is not a value of the graph"))
        elif values[name].shape != ():
            problems.append(problem("ask", f"{name!r} has shape {values[name].shape}: the "
                                           "student answers with one number per name, so ask "
                                           "for scalar values only"))
    for name, (low, high) in ex.spec.get("variants", {}).items():
        if name not in ex.spec["graph"]["inputs"]:
            problems.append(problem(f"variants.{name}", f"{name!r} is not an input"))
        elif low >= high:
            problems.append(problem(f"variants.{name}", f"empty range [{low}, {high}]"))
    return problems


def extreme_specs(extreme: dict | list[dict]) -> list[dict]:
    """An exercise's extreme cases: one spec (input -> magnitude/offset) or a list of them."""
    return extreme if isinstance(extreme, list) else [extreme]


def _unknown_op(ex: Exercise, name: str) -> str:
    return (f"unknown op {name!r} in pack {ex.pack.name!r}; its ops: "
            f"{', '.join(sorted(ex.pack.ops))}")


def _kind_problems(ex: Exercise) -> list[Problem]:
    spec, src = ex.spec, str(ex.source)
    if ex.kind in ("gate", "forward"):
        gate = ex.pack.ops.get(spec["gate"])
        if gate is None:
            return [Problem(src, ex.id, "gate", _unknown_op(ex, spec["gate"]))]
        return _op_problems(ex, gate)
    if ex.kind == "function" and spec["reference"] not in ex.pack.ops.functions:
        return [Problem(src, ex.id, "reference", f"unknown reference function "
                                                 f"{spec['reference']!r}; known: "
                                                 f"{', '.join(sorted(ex.pack.ops.functions))}")]
    if ex.kind == "graph":
        return _graph_problems(ex)
    return []


# The checks that each convention's backward (kind gate) and forward (kind forward) allow.
UPSTREAM_CHECKS = {"zero_upstream", "linear_upstream"}
FORWARD_CHECKS = {"outputs", "values", "untouched", "extreme", "state", "kept", "expectation",
                  "test_mode"}


def _op_problems(ex: Exercise, gate: Op) -> list[Problem]:
    spec, src = ex.spec, str(ex.source)
    problems = []

    def problem(where: str, message: str) -> None:
        problems.append(Problem(src, ex.id, where, message))

    for k in [k for extreme in extreme_specs(spec.get("extreme", {})) for k in extreme
              if k not in gate.inputs]:
        problem(f"extreme.{k}", f"{gate.name} has no input {k!r}; its inputs: "
                                f"{', '.join(gate.inputs)}")
    if "extreme" in ex.checks and not spec.get("extreme"):
        problem("extreme", "the 'extreme' check needs an 'extreme' section")
    if "scalar" in ex.checks and not gate.elementwise:
        problem("checks.scalar", f"{gate.name} is not elementwise: no 0-d scalar case")
    needs_forward = ex.kind == "gate" and gate.convention in ("cache", "stochastic")
    if needs_forward and not spec.get("forward"):
        problem("forward", f"{gate.name} is a {gate.convention}-convention op: its backward "
                           "takes the cache of the student's own forward; name that forward "
                           "function here (e.g. forward: affine_forward)")
    if spec.get("forward") and not needs_forward:
        problem("forward", f"{gate.name}'s backward takes the inputs themselves (convention "
                           f"{gate.convention}): remove 'forward'")
    if ex.kind == "gate" and gate.convention == "loss":
        for check in sorted(UPSTREAM_CHECKS & set(ex.checks)):
            problem(f"checks.{check}", f"{gate.name} returns (loss, gradients) with no "
                                       "upstream gradient: remove this check")
    if ex.kind == "forward":
        for check in sorted(set(ex.checks) - FORWARD_CHECKS):
            problem(f"checks.{check}", f"a forward exercise has no {check!r} check; its "
                                       f"checks: {', '.join(sorted(FORWARD_CHECKS))}")
        statistical = {"kept", "expectation"} & set(ex.checks)
        if statistical and gate.stochastic is None:
            problem("checks", f"{', '.join(sorted(statistical))}: only for a stochastic op")
        if "test_mode" in ex.checks and gate.stochastic is None and not (
                gate.test_mode and gate.state):
            problem("checks.test_mode", f"{gate.name} declares no test mode (a stochastic "
                                        "op's, or test_mode= with state= on the op)")
        if "state" in ex.checks and not gate.state:
            problem("checks.state", f"{gate.name} declares no state (a dict parameter its "
                                    "forward updates)")
    elif {"state", "kept", "expectation", "test_mode"} & set(ex.checks):
        problem("checks", "state, kept, expectation and test_mode are checks of a forward "
                          "exercise (kind: forward)")
    return problems


def pack_for(path: Path) -> Pack:
    """The pack a course file belongs to: pack.yaml beside it or one folder up, else the
    built-in pack."""
    folder = packs.of_assignment(path)
    try:
        return packs.load(folder) if folder else packs.builtin()
    except PackError as e:
        raise ExerciseError([Problem(line, None, None, "the course pack is broken")
                             for line in e.problems]) from None


def load_exercise(path: Path, default_tol: Tolerance = GATE_TOLERANCE,
                  graph_tol: Tolerance = GRAPH_TOLERANCE, pack: Pack | None = None
                  ) -> Exercise:
    """Read and check one exercise file (its ops come from `pack`, by default the pack the
    file lies in); raise ExerciseError with every problem found."""
    pack = pack or pack_for(path)
    data, problems = _read_yaml(path)
    if problems:
        raise ExerciseError(problems)
    ex_id = data.get("id") if isinstance(data, dict) else None
    problems = _schema_problems(data, "exercise", path, ex_id)
    if problems:
        raise ExerciseError(problems)
    if path.stem != ex_id:
        raise ExerciseError([Problem(str(path), ex_id, "id",
                                     f"the file must be named {ex_id}.yaml, after its id")])
    base = graph_tol if data["kind"] == "graph" else default_tol
    ex = Exercise(id=ex_id, title=data["title"], kind=data["kind"], source=path, spec=data,
                  pack=pack, checks=dict(data.get("checks", {})),
                  tolerance=Tolerance.from_spec(data.get("tolerance"), base),
                  visibility=data.get("visibility", "visible"))
    problems = _kind_problems(ex)
    if problems:
        raise ExerciseError(problems)
    return ex


def exercise_path(folder: Path, ex_id: str, pack: Pack | None = None
                  ) -> tuple[Path, Pack | None] | None:
    """An assignment's exercise and the pack it belongs to: the file next to it, else in
    its pack's exercises, else the built-in exercise of that id, so that a course can pick
    built-in exercises by id without copying them."""
    if Path(ex_id).name != ex_id:
        return None  # a path, not an id
    places = [(folder, None)] + ([(pack.exercises_dir, pack)] if pack else []) + \
        [(data_dir("exercises"), packs.builtin())]
    return next(((place / f"{ex_id}.yaml", owner) for place, owner in places
                 if (place / f"{ex_id}.yaml").is_file()), None)


def load_assignment(path: Path | None = None, pack: Pack | None = None) -> Assignment:
    """Read an assignment file and the exercises it names (next to it, in its pack, or
    built in). `pack` defaults to the pack the file lies in; with a pack and no path, the
    pack's own assignment."""
    path = Path(path) if path else pack.assignment if pack else default_assignment_path()
    pack = pack or pack_for(path)
    data, problems = _read_yaml(path)
    if problems:
        raise ExerciseError(problems)
    problems = _schema_problems(data, "assignment", path, None)
    if problems:
        raise ExerciseError(problems)
    defaults = data.get("defaults", {})
    default_tol = Tolerance.from_spec(defaults.get("tolerance"), GATE_TOLERANCE)
    graph_tol = Tolerance.from_spec(defaults.get("graph_tolerance"), GRAPH_TOLERANCE)
    exercises, seen = [], set()
    for i, entry in enumerate(data["exercises"]):
        ex_id = entry["id"]
        if ex_id in seen:
            problems.append(Problem(str(path), ex_id, f"exercises.{i}", "listed twice"))
            continue
        seen.add(ex_id)
        found = exercise_path(path.parent, ex_id, pack)
        if found is None:
            built_in = [p.stem for p in exercise_files_in(data_dir("exercises"))]
            problems.append(Problem(str(path), ex_id, f"exercises.{i}",
                                    f"no exercise file {ex_id}.yaml next to the assignment, "
                                    f"and no built-in exercise of that id: {', '.join(built_in)}"))
            continue
        ex_path, owner = found
        try:
            ex = load_exercise(ex_path, default_tol, graph_tol, owner or pack)
        except ExerciseError as e:
            problems.extend(e.problems)
            continue
        if ex.kind == "graph" and "answer" not in ex.spec:
            problems.append(Problem(str(ex_path), ex_id, "answer", "a graph exercise in an "
                                    "assignment needs 'answer' (the student's dict) and 'ask'"))
        ex.points = float(entry["points"])
        ex.visibility = entry.get("visibility", ex.spec.get(
            "visibility", defaults.get("visibility", "visible")))
        ex.reveal = data.get("policy", {}).get("reveal", "mistakes")
        exercises.append(ex)
    late = data.get("late", {})
    if late and not _is_moment(late.get("due")):
        due = as_written(late.get("due"))
        problems.append(Problem(str(path), None, "late.due", f"{due!r} is not a date and "
                                "time with a time zone; write it like "
                                "2026-11-20T23:59:00+01:00"))
    if problems:
        raise ExerciseError(problems)
    return Assignment(title=data["title"], source=path, exercises=exercises,
                      limits=data.get("limits", {}), policy=data.get("policy", {}), late=late,
                      pack=pack)


def as_written(value: Any) -> Any:
    """A date or time from a YAML or CSV file as its author wrote it (YAML reads
    `2024-12-01 10:00:00` as a datetime, whose repr no author wrote); anything else as is."""
    return value.isoformat() if isinstance(value, datetime.date) else value


def _is_moment(value: Any) -> bool:
    """A date and time with a time zone (YAML may have read it as a datetime already)."""
    if not isinstance(value, datetime.datetime):
        try:
            value = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return False
    return value.tzinfo is not None



def load_exercises(paths: Iterable[Path]) -> tuple[list[Exercise], list[Problem]]:
    """Load several exercise files, collecting the problems instead of stopping at one."""
    exercises, problems = [], []
    for path in paths:
        try:
            exercises.append(load_exercise(Path(path)))
        except ExerciseError as e:
            problems.extend(e.problems)
    return exercises, problems
