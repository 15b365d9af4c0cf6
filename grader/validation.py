"""`backprop validate`: is every exercise well-formed, and is its reference right?

Beyond the schema and the static checks of `exercises`, this recomputes every expected
number written in a YAML file with the reference, and checks every reference gradient
against central differences, on the exercise's own graphs and on seeded random cases.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from grader import scoring
from grader.planning import InternalError
from grader.exercises import (ASSIGNMENT_FILE, Exercise, ExerciseError, Problem, data_dir,
                              load_assignment, load_exercises)
from grader.gradcheck import REFERENCE_RTOL, numerical_gradients, relative_error

PRINTED_PRECISION = 0.005  # numbers printed with 2 decimals, as in the lecture
SEEDS = range(5)


def exercise_files(targets: list[str]) -> tuple[list[Path], list[Path]]:
    """(assignment files, exercise files) named by paths, folders or ids."""
    folder = data_dir("exercises")
    if not targets:
        return [folder / ASSIGNMENT_FILE], sorted(p for p in folder.glob("*.yaml")
                                                  if p.name != ASSIGNMENT_FILE)
    assignments, exercises = [], []
    for target in targets:
        path = Path(target)
        if path.is_dir():
            a, e = (sorted(path.glob(ASSIGNMENT_FILE)),
                    sorted(p for p in path.glob("*.yaml") if p.name != ASSIGNMENT_FILE))
            assignments += a
            exercises += e
        elif path.suffix in (".yaml", ".yml") or path.exists():
            (assignments if path.name == ASSIGNMENT_FILE else exercises).append(path)
        else:
            exercises.append(folder / f"{target}.yaml")
    return assignments, exercises


def _graph_number_problems(ex: Exercise) -> list[Problem]:
    graph = ex.graph()
    values = graph.forward(ex.graph_inputs())
    upstream = ex.graph_upstream()
    grads = graph.backward(values, upstream)
    expected = ex.spec["expected"]
    precision = expected.get("precision", PRINTED_PRECISION) + 1e-9
    problems = []
    for section, truth in (("values", values), ("grads", grads)):
        for name, written in expected.get(section, {}).items():
            diff = float(np.max(np.abs(np.asarray(written, dtype=float) - truth[name])))
            if diff > precision:
                problems.append(Problem(str(ex.source), ex.id, f"expected.{section}.{name}",
                                        f"{written} disagrees with the reference "
                                        f"({np.round(truth[name], 6).tolist()})"))

    def loss(xs):
        out = graph.forward(dict(zip(graph.inputs, xs)))[graph.output]
        return float(np.sum(upstream * out))

    xs = [values[name] for name in graph.inputs]
    for name, numeric in zip(graph.inputs, numerical_gradients(loss, xs)):
        if relative_error(grads[name], numeric) > REFERENCE_RTOL:
            problems.append(Problem(str(ex.source), ex.id, "graph",
                                    f"the reference gradient of {name} disagrees with the "
                                    "numerical gradient"))
    return problems


def verify(ex: Exercise) -> list[Problem]:
    """Numerical checks of one exercise that loaded cleanly."""
    if ex.kind == "graph":
        problems = _graph_number_problems(ex)
        if "variants" in ex.spec:
            try:
                for student in ("a@example.edu", "b@example.edu", "12345"):
                    scoring.plan(ex, 0, (0, student))
            except RuntimeError as e:
                problems.append(Problem(str(ex.source), ex.id, "variants", str(e)))
        return problems
    for seed in SEEDS:
        try:
            scoring.plan(ex, seed)
        except (InternalError, RuntimeError) as e:
            return [Problem(str(ex.source), ex.id, None, f"seed {seed}: {e}")]
    return []


def validate(targets: list[str]) -> tuple[list[Exercise], list[Problem]]:
    assignments, files = exercise_files(targets)
    exercises, problems = load_exercises(files)
    for path in assignments:
        try:
            load_assignment(path)
        except ExerciseError as e:
            problems += [p for p in e.problems if p not in problems]
    for ex in exercises:
        problems += verify(ex)
    return exercises, problems
