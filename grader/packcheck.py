"""`backprop validate PACK`: prove a course pack before students meet it.

Beyond what `validation` checks of its exercises and assignment: the pack imports nothing
of the grader but the authoring API; each op, over several seeds, draws cases that satisfy
its constraints, gives finite values, agrees with central differences and is deterministic;
its mistake signatures never equal the true gradient and are told apart; every solution
scores full marks through the real sandbox; every buggy fixture loses its own exercise, and
only it, with the hint it states.
"""

from __future__ import annotations

import ast
import copy
from pathlib import Path

import numpy as np

from grader import cases
from grader.authoring import Op
from grader.exercises import Assignment, ExerciseError, Problem, load_assignment
from grader.gradcheck import REFERENCE_RTOL, reference_gate_error
from grader.packs import Pack
from grader.sandbox import ConfinementError

SEEDS = range(5)
FIXTURE_SEEDS = (0, 1)
ALLOWED_IMPORTS = {"grader.authoring"}


def grader_imports(path: Path) -> set[str]:
    """The grader modules a Python file imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "grader":
            found |= {node.module} if node.module != "grader" else \
                {f"grader.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "grader"}
    return found


def import_problems(pack: Pack) -> list[Problem]:
    """A pack's own code imports the authoring API and nothing else of the grader."""
    students = {pack.solutions, pack.buggy} | ({pack.template.parent} if pack.template else set())
    problems = []
    for path in sorted(pack.root.rglob("*.py")):
        if any(folder in path.parents for folder in students):
            continue
        try:
            extra = grader_imports(path) - ALLOWED_IMPORTS
        except (SyntaxError, UnicodeDecodeError, OSError) as e:
            problems.append(Problem(str(path), None, None, f"cannot be parsed: {e}"))
            continue
        if extra:
            problems.append(Problem(str(path), None, "imports",
                                    f"imports {', '.join(sorted(extra))}: "
                                    "a pack imports only grader.authoring (the grader's "
                                    "other modules are not an API and change between "
                                    "versions)"))
    return problems


def _finite(values) -> bool:
    return all(np.all(np.isfinite(np.asarray(v, dtype=float))) for v in values)


def op_problems(pack: Pack, op: Op) -> list[Problem]:
    """Every seed: a case that satisfies the op's constraints, finite and deterministic
    values, a backward that agrees with the numbers; signatures that say something."""
    where = str(pack.ops_source or pack.root / "pack.yaml")

    def problem(message: str, field: str = "") -> Problem:
        return Problem(where, None, f"op {op.name}" + (f".{field}" if field else ""), message)

    mistakes: dict[int, list[bool]] = {}
    pairs: dict[tuple[int, int], list[bool]] = {}
    for seed in SEEDS:
        rng = cases.rng_for(seed, f"validate/{op.name}")
        try:
            with np.errstate(all="ignore"):  # a nan is reported below, not warned about
                inputs, params = cases.draw_case(op, rng)
                out = op.forward(*inputs, *copy.deepcopy(params))
                dout = cases.upstream(np.shape(out), rng)
                grads = op.grads(dout, *inputs, *copy.deepcopy(params))
                again = op.grads(dout, *inputs, *copy.deepcopy(params))
        except Exception as e:  # noqa: BLE001 - the pack's code, reported, never a traceback
            return [problem(f"seed {seed}: {type(e).__name__}: {e}")]
        if not _finite([out, *grads]):
            return [problem(f"seed {seed}: the reference gives nan or inf (inputs "
                            f"{[np.shape(x) for x in inputs]}, parameters {params}): check "
                            "its domains and parameter ranges")]
        differentiable = [x for x, d in zip(inputs, op.differentiable) if d]
        if len(grads) != len(differentiable) or any(
                np.shape(g) != np.shape(x) for g, x in zip(grads, differentiable)):
            return [problem(f"seed {seed}: the backward returns {len(grads)} gradient(s) of "
                            f"shapes {[np.shape(g) for g in grads]}; expected one per "
                            f"differentiable input ({', '.join(op.grad_inputs)}) shaped "
                            "like it", "backward")]
        if any(not np.array_equal(a, b) for a, b in zip(grads, again)):
            return [problem(f"seed {seed}: the backward is not deterministic", "backward")]
        error = reference_gate_error(op, inputs, params, dout, rng)
        if not error <= REFERENCE_RTOL:
            return [problem(f"seed {seed}: the backward disagrees with central differences "
                            f"of the forward (relative error {error:.3g})", "backward")]
        if op.terms:
            total = [sum(parts) for parts in zip(*op.term_grads(
                dout, *inputs, *copy.deepcopy(params)).values())]
            if not all(np.allclose(t, g, rtol=1e-7, atol=1e-10) for t, g in zip(total, grads)):
                return [problem("the terms do not add up to the backward", "terms")]
        candidates = _signatures(op, dout, inputs, params)
        for k, (index, wrong) in candidates.items():
            mistakes.setdefault(k, []).append(
                wrong is None or np.allclose(wrong, grads[index], rtol=1e-7, atol=1e-12))
        for a in candidates:
            for b in candidates:
                if a < b and candidates[a][0] == candidates[b][0]:
                    wa, wb = candidates[a][1], candidates[b][1]
                    pairs.setdefault((a, b), []).append(
                        wa is not None and wb is not None and np.allclose(wa, wb, rtol=1e-7))
    found = [problem(f"mistake {op.mistakes[k].idea[:60]!r} gives the true gradient on every "
                     "case: it could never be told apart", "mistakes")
             for k, same in mistakes.items() if all(same)]
    found += [problem(f"mistakes {op.mistakes[a].idea[:40]!r} and {op.mistakes[b].idea[:40]!r} "
                      "give the same gradient on every case: ambiguous, keep one", "mistakes")
              for (a, b), same in pairs.items() if all(same)]
    return found


def _signatures(op: Op, dout, inputs, params) -> dict[int, tuple[int, np.ndarray | None]]:
    """Each mistake's wrong gradient on this case, with the output it concerns."""
    found = {}
    for k, mistake in enumerate(op.mistakes):
        if mistake.output not in op.grad_inputs:
            continue
        with np.errstate(all="ignore"):
            wrong = mistake.wrong(dout, *inputs, *copy.deepcopy(params))
        found[k] = (op.grad_inputs.index(mistake.output),
                    None if wrong is None else np.asarray(wrong, dtype=float))
    return found


def fixture_header(path: Path) -> dict[str, str]:
    """The `# key: value` lines at the top of a buggy file."""
    fields = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.startswith("#") or ":" not in line:
            break
        key, value = line.lstrip("# ").split(":", 1)
        fields[key.strip()] = value.strip()
    return fields


def _grade(path: Path, assignment: Assignment, seed: int):
    from grader.grading import grade  # the sandbox, loaded only when fixtures are run

    return grade(path, assignment, seed=seed)


def fixture_problems(pack: Pack, assignment: Assignment, scratch: Path) -> list[Problem]:
    """Solutions keep full marks; each buggy file, laid over the first solution, loses its
    own exercise only, and gets its hint there."""
    solutions = sorted(p for p in pack.solutions.glob("*") if p.suffix in (".py", ".ipynb"))
    buggy = sorted(pack.buggy.glob("*.py"))
    problems = []
    if not solutions:
        return [Problem(str(pack.solutions), None, None, "no solution: add a file that scores "
                        "full marks (it proves the exercises can be passed)")]
    for path in solutions:
        for seed in FIXTURE_SEEDS:
            report = _grade(path, assignment, seed)
            short = [r for r in report.exercises if r.score < r.exercise.points]
            if report.error or short:
                why = report.error or "; ".join(
                    f"{r.exercise.id}: {r.score:g}/{r.exercise.points:g}" +
                    (f" ({r.hints[0]})" if r.hints else "") for r in short)
                problems.append(Problem(str(path), None, None, f"a solution must score full "
                                        f"marks; seed {seed}: {why}"))
                break
    base = solutions[0].read_text(encoding="utf-8") if solutions[0].suffix == ".py" else None
    for path in buggy:
        problems += _buggy_problems(path, base, assignment, scratch)
    return problems


def _buggy_problems(path: Path, base: str | None, assignment: Assignment,
                    scratch: Path) -> list[Problem]:
    header = fixture_header(path)
    exercise, hint = header.get("exercise"), header.get("hint")
    if not exercise or not hint:
        return [Problem(str(path), None, None, "a buggy file starts with `# exercise: ID` and "
                        "`# hint: words its hint must contain`")]
    # `also`: exercises that use this one's output (a backward on a wrong forward's cache)
    also = {e.strip() for e in header.get("also", "").split(",") if e.strip()}
    unknown = ({exercise} | also) - {ex.id for ex in assignment.exercises}
    if unknown:
        return [Problem(str(path), exercise, "exercise", f"{', '.join(sorted(unknown))}: not "
                        "an exercise of the assignment")]
    composed = scratch / path.stem / assignment.student_file
    composed.parent.mkdir()
    composed.write_text((base or "") + "\n\n# ---- buggy ----\n" + path.read_text())
    for seed in FIXTURE_SEEDS:
        # the whole assignment once (the mistake costs nothing else), then its own exercises
        graded = assignment if seed == FIXTURE_SEEDS[0] else assignment.only({exercise, *also})
        report = _grade(composed, graded, seed)
        by_id = {r.exercise.id: r for r in report.exercises}
        mine = by_id[exercise]
        others = [r for r in report.exercises if r.exercise.id not in {exercise, *also} and
                  r.score < r.exercise.points]
        said = " | ".join(mine.hints) or "no hint"
        if report.error:
            return [Problem(str(path), exercise, None, f"seed {seed}: {report.error}")]
        if mine.score >= mine.exercise.points:
            return [Problem(str(path), exercise, None, f"seed {seed}: keeps full marks: the "
                            "exercise's cases do not expose this mistake")]
        if others:
            return [Problem(str(path), exercise, None, f"seed {seed}: also costs "
                            f"{', '.join(r.exercise.id for r in others)}: a mistake must cost "
                            "its own exercise only (list the exercises that build on it "
                            "with `# also: ID, ...`)")]
        if hint.lower() not in said.lower():
            return [Problem(str(path), exercise, "hint", f"seed {seed}: the hint is {said!r}; "
                            f"expected it to contain {hint!r}")]
    return []


def prove(pack: Pack, scratch: Path) -> tuple[Assignment | None, list[Problem]]:
    """Everything `validate PACK` checks beyond its exercise files."""
    problems = import_problems(pack)
    for name in pack.ops:
        problems += op_problems(pack, pack.ops[name])
    try:
        assignment = load_assignment(pack.assignment, pack)
    except ExerciseError as e:
        return None, problems + e.problems
    if problems:
        return assignment, problems
    try:
        problems += fixture_problems(pack, assignment, scratch)
    except ConfinementError as e:
        problems.append(Problem(str(pack.root), None, None, f"fixtures not run: the sandbox "
                                f"cannot protect a run here ({e})"))
    return assignment, problems
