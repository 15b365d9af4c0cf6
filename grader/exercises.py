"""Load exercises and assignments from YAML into typed objects, validated.

Every problem is reported with its file, exercise and field, all at once, so that course
staff can fix a whole folder in one pass. Structure is checked by the JSON schemas in
`schemas/`; meaning (known ops, acyclic graphs, matching shapes) is checked here against
the reference.
"""

from __future__ import annotations

import datetime
import difflib
import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from collections.abc import Iterable

import numpy as np
import yaml

from reference import FUNCTIONS, GATES
from reference.graph import Graph, GraphError, Node, topological_order

PACKAGE_DIR = Path(__file__).resolve().parent
ASSIGNMENT_FILE = "assignment.yaml"
# Modules that would compute gradients for the student; an assignment's policy may override.
DEFAULT_FORBIDDEN_MODULES = ("torch", "jax", "tensorflow", "autograd")


def data_dir(name: str) -> Path:
    """A data folder shipped with the grader: inside the wheel, or at the checkout's top."""
    for candidate in (PACKAGE_DIR / "_data" / name, PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"the grader's {name}/ folder is missing: reinstall backprop-grader")


def default_assignment_path() -> Path:
    return data_dir("exercises") / ASSIGNMENT_FILE


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
    rtol: float = 0.0
    atol: float = 0.0

    @classmethod
    def from_spec(cls, spec: dict | None, default: Tolerance) -> Tolerance:
        return cls(**{**default.__dict__, **(spec or {})})


@dataclass
class Exercise:
    """One exercise, with the assignment's points, visibility and reveal policy folded in."""

    id: str
    title: str
    kind: str
    source: Path
    spec: dict[str, Any]
    checks: dict[str, float] = field(default_factory=dict)
    tolerance: Tolerance = Tolerance()
    points: float = 0.0
    visibility: str = "visible"
    reveal: str = "mistakes"  # what its feedback may show: mistakes, formula or answers

    @property
    def description(self) -> str:
        return self.spec.get("description", "")

    @property
    def function(self) -> str | None:
        return self.spec.get("function") or self.spec.get("answer")

    def graph(self) -> Graph:
        g = self.spec["graph"]
        nodes = {name: Node(n["op"], list(n["args"]),
                            {k: v for k, v in n.items() if k not in ("op", "args")})
                 for name, n in g["nodes"].items()}
        return Graph(list(g["inputs"]), nodes, g["output"])

    def graph_inputs(self, overrides: dict | None = None) -> dict[str, np.ndarray]:
        inputs = {**self.spec["graph"]["inputs"], **(overrides or {})}
        return {k: np.asarray(v, dtype=float) for k, v in inputs.items()}

    def graph_upstream(self) -> np.ndarray:
        return np.asarray(self.spec["graph"].get("upstream", 1.0), dtype=float)


@dataclass
class Assignment:
    title: str
    source: Path
    exercises: list[Exercise]
    limits: dict[str, Any] = field(default_factory=dict)
    policy: dict[str, Any] = field(default_factory=dict)
    late: dict[str, Any] = field(default_factory=dict)  # the late policy (`gradebook`)

    def get(self, exercise_id: str) -> Exercise:
        for ex in self.exercises:
            if ex.id == exercise_id:
                return ex
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
        names = {ex.function for ex in self.exercises if ex.function}
        for ex in self.exercises:
            names |= set((ex.spec.get("functions") or {}).values())
        return names

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
        return Assignment(self.title, self.source, chosen, self.limits, self.policy, self.late)


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
        return yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER), []
    except OSError as e:
        return None, [Problem(str(path), None, None, f"cannot read: {e.strerror}")]
    except UnicodeDecodeError:
        return None, [Problem(str(path), None, None, "not UTF-8 text")]
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return None, [Problem(str(path), None, None,
                              f"not valid YAML{where}: {getattr(e, 'problem', e)}")]


class SafeLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # the C one when built
    """YAML's safe loader, where a date that does not exist (`2024-13-40`) is a YAML error
    with its line, not a ValueError from deep inside the loader."""

    def construct_yaml_timestamp(self, node):
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as e:
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.value!r} is not a date ({e})", node.start_mark) from None


SafeLoader.add_constructor("tag:yaml.org,2002:timestamp", SafeLoader.construct_yaml_timestamp)
SAFE_LOADER = SafeLoader
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
        gate = GATES.get(node["op"])
        if gate is None:
            problems.append(problem(f"{where}.op", f"unknown op {node['op']!r}; known ops: "
                                                   f"{', '.join(sorted(GATES))}"))
            continue
        if len(node["args"]) != len(gate.inputs):
            problems.append(problem(f"{where}.args", f"{gate.name} takes {len(gate.inputs)} "
                                                     f"input(s), got {len(node['args'])}"))
        params = {k for k in node if k not in ("op", "args")}
        if params != set(gate.params):
            want = ", ".join(gate.params) or "none"
            problems.append(problem(where, f"{gate.name} takes parameters: {want}; "
                                           f"got: {', '.join(sorted(params)) or 'none'}"))
        for arg, domain in zip(node["args"], gate.domains):
            if arg not in inputs and arg not in nodes:
                problems.append(problem(f"{where}.args", f"missing input {arg!r}: it is neither "
                                                         "a graph input nor a node"))
            if domain.startswith("label"):
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
                values[name] = np.asarray(GATES[node.op].forward(*args, **node.params))
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


def _kind_problems(ex: Exercise) -> list[Problem]:
    spec, src = ex.spec, str(ex.source)
    if ex.kind == "gate":
        gate = GATES.get(spec["gate"])
        if gate is None:
            return [Problem(src, ex.id, "gate", f"unknown op {spec['gate']!r}; known ops: "
                                                f"{', '.join(sorted(GATES))}")]
        bad = [k for extreme in extreme_specs(spec.get("extreme", {})) for k in extreme
               if k not in gate.inputs]
        problems = [Problem(src, ex.id, f"extreme.{k}", f"{gate.name} has no input {k!r}; its "
                                                        f"inputs: {', '.join(gate.inputs)}")
                    for k in bad]
        if "extreme" in ex.checks and not spec.get("extreme"):
            problems.append(Problem(src, ex.id, "extreme",
                                    "the 'extreme' check needs an 'extreme' section"))
        if "scalar" in ex.checks and gate.shapes != ("...",) * len(gate.inputs):
            problems.append(Problem(src, ex.id, "checks.scalar",
                                    f"{gate.name} is not elementwise: no 0-d scalar case"))
        return problems
    if ex.kind == "function" and spec["reference"] not in FUNCTIONS:
        return [Problem(src, ex.id, "reference", f"unknown reference function "
                                                 f"{spec['reference']!r}; known: "
                                                 f"{', '.join(sorted(FUNCTIONS))}")]
    if ex.kind == "graph":
        return _graph_problems(ex)
    return []


def load_exercise(path: Path, default_tol: Tolerance = Tolerance(),
                  graph_tol: Tolerance = Tolerance()) -> Exercise:
    """Read and check one exercise file; raise ExerciseError with every problem found."""
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
                  checks=dict(data.get("checks", {})),
                  tolerance=Tolerance.from_spec(data.get("tolerance"), base),
                  visibility=data.get("visibility", "visible"))
    problems = _kind_problems(ex)
    if problems:
        raise ExerciseError(problems)
    return ex


def exercise_path(folder: Path, ex_id: str) -> Path | None:
    """An assignment's exercise: the file next to it, else the built-in exercise of that
    id, so that a course can pick built-in exercises by id without copying them."""
    if Path(ex_id).name != ex_id:
        return None  # a path, not an id
    return next((candidate for candidate in (folder / f"{ex_id}.yaml",
                                             data_dir("exercises") / f"{ex_id}.yaml")
                 if candidate.is_file()), None)


def load_assignment(path: Path | None = None) -> Assignment:
    """Read an assignment file and the exercises it names from the same folder."""
    path = Path(path) if path else default_assignment_path()
    data, problems = _read_yaml(path)
    if problems:
        raise ExerciseError(problems)
    problems = _schema_problems(data, "assignment", path, None)
    if problems:
        raise ExerciseError(problems)
    defaults = data.get("defaults", {})
    default_tol = Tolerance.from_spec(defaults.get("tolerance"), Tolerance())
    graph_tol = Tolerance.from_spec(defaults.get("graph_tolerance"), Tolerance())
    exercises, seen = [], set()
    for i, entry in enumerate(data["exercises"]):
        ex_id = entry["id"]
        if ex_id in seen:
            problems.append(Problem(str(path), ex_id, f"exercises.{i}", "listed twice"))
            continue
        seen.add(ex_id)
        ex_path = exercise_path(path.parent, ex_id)
        if ex_path is None:
            built_in = sorted(p.stem for p in data_dir("exercises").glob("*.yaml")
                              if p.name != ASSIGNMENT_FILE)
            problems.append(Problem(str(path), ex_id, f"exercises.{i}",
                                    f"no exercise file {ex_id}.yaml next to the assignment, "
                                    f"and no built-in exercise of that id: {', '.join(built_in)}"))
            continue
        try:
            ex = load_exercise(ex_path, default_tol, graph_tol)
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
        problems.append(Problem(str(path), None, "late.due", f"{late.get('due')!r} is not a date "
                                "and time with a time zone; write it like "
                                "2026-11-20T23:59:00+01:00"))
    if problems:
        raise ExerciseError(problems)
    return Assignment(title=data["title"], source=path, exercises=exercises,
                      limits=data.get("limits", {}), policy=data.get("policy", {}), late=late)


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
