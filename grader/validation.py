"""`backprop validate`: is every exercise well-formed, and is its reference right?

Beyond the schema and the static checks of `exercises`, this recomputes every expected
number written in a YAML file with the reference, and checks every reference gradient
against central differences, on the exercise's own graphs and on seeded random cases.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from grader import planning, scoring, yamlfiles
from grader.exercises import (ASSIGNMENT_FILE, Assignment, Exercise, ExerciseError,
                              Problem, data_dir, exercise_files_in, load_assignment,
                              load_exercises)
from grader.gradcheck import REFERENCE_RTOL, numerical_gradients, relative_error
from grader.gradebook import GradebookError, LatePolicy

PRINTED_PRECISION = 0.005  # numbers printed with 2 decimals, as in the lecture
SEEDS = range(5)


def _is_assignment(path: Path) -> bool:
    """An assignment names its exercises; any file name will do (hw3.yaml)."""
    if path.name == ASSIGNMENT_FILE:
        return True
    try:
        data = yamlfiles.load(path)
    except (OSError, UnicodeDecodeError, yamlfiles.error()):
        return False  # its loading will say what is wrong
    return isinstance(data, dict) and isinstance(data.get("exercises"), list)


def exercise_files(targets: list[str]) -> tuple[list[Path], list[Path], list[Problem]]:
    """(assignment files, exercise files, targets that name nothing) for paths, folders or
    exercise ids."""
    folder = data_dir("exercises")
    if not targets:
        return [folder / ASSIGNMENT_FILE], exercise_files_in(folder), []
    assignments, exercises, missing = [], [], []
    for target in targets:
        path = Path(target)
        files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")]) if path.is_dir() else \
            [path] if path.is_file() else []
        if path.is_dir() and not files:
            missing.append(Problem(target, None, None, "a folder with no .yaml files"))
        for file in files:
            (assignments if _is_assignment(file) else exercises).append(file)
        if not path.exists():
            if path.suffix in (".yaml", ".yml") or "/" in target:
                missing.append(Problem(target, None, None, "no such file or folder"))
            elif (folder / f"{target}.yaml").is_file():
                exercises.append(folder / f"{target}.yaml")
            else:
                missing.append(Problem(target, None, None, "not a file, a folder or a bundled "
                                       "exercise id"))
    return assignments, exercises, missing


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
        except Exception as e:  # noqa: BLE001 - the exercise's own code (a pack's op) broke
            return [Problem(str(ex.source), ex.id, None, f"seed {seed}: {planning.failure(e)}")]
    return []


def late_policy_problems(assignment: Assignment) -> list[Problem]:
    """The late policy as `grade` will read it: its due date, and the extensions file it
    names (there, with a student and a real date and time on every row)."""
    try:
        LatePolicy.of(assignment)
    except GradebookError as e:
        return [Problem(str(assignment.source), None, "late", str(e))]
    return []


@dataclass
class Validated:
    """What `validate` checked, and what is wrong."""

    assignments: list[Assignment] = field(default_factory=list)
    exercises: list[Exercise] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    packs: list = field(default_factory=list)  # the course packs proved


def _prove_packs(targets: list[str], done: Validated) -> list[str]:
    """Prove each target that is a course pack (`packcheck`); the other targets remain."""
    import tempfile

    from grader import packcheck, packs

    rest = []
    for target in targets:
        if not (Path(target) / packs.PACK_FILE).is_file() and \
                not (Path(target).name == packs.PACK_FILE and Path(target).is_file()):
            rest.append(target)
            continue
        try:
            pack = packs.load(packs.find(target))
        except packs.PackError as e:
            done.problems += [Problem(line, None, None, "the pack cannot be loaded")
                              for line in e.problems]
            continue
        with tempfile.TemporaryDirectory(prefix="backprop-validate-") as scratch:
            assignment, problems = packcheck.prove(pack, Path(scratch))
        done.problems += problems
        done.packs.append(pack)
        if assignment:
            done.assignments.append(assignment)
        done.exercises += load_exercises(exercise_files_in(pack.exercises_dir))[0]
    return rest


def validate(targets: list[str]) -> Validated:
    """Load and verify every named exercise, assignment and course pack; an assignment's
    own exercises are verified with it."""
    done = Validated()
    rest = _prove_packs(targets, done)
    if targets and not rest:
        assignment_files, files, missing = [], [], []
    else:
        assignment_files, files, missing = exercise_files(rest)
    done.problems += missing
    loaded, problems = load_exercises(files)
    done.exercises += loaded
    done.problems += problems
    for path in assignment_files:
        try:
            done.assignments.append(load_assignment(path))
        except ExerciseError as e:
            done.problems += [p for p in e.problems if p not in done.problems]
    for assignment in done.assignments:
        done.problems += late_policy_problems(assignment)
    seen = {ex.source.resolve() for ex in done.exercises}
    for assignment in done.assignments:
        done.exercises += [ex for ex in assignment.exercises if ex.source.resolve() not in seen]
        seen |= {ex.source.resolve() for ex in assignment.exercises}
    for ex in done.exercises:
        done.problems += verify(ex)
    return done
