"""One grading, end to end: make cases, run the student in the sandbox, judge, score.

This is the function behind `backprop check` and every other mode; it never raises for a
bad submission, only for a bad configuration (missing file, broken exercise).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from grader import judging
from grader.exercises import Assignment, load_assignment
from grader.judging import ExerciseResult, Probe
from grader.sandbox import Limits, Outcome, run_submission

SUBMISSION_NAMES = ("backprop.py",)


class SubmissionError(ValueError):
    """The path given cannot be graded at all (missing, wrong kind of file)."""


@dataclass
class Report:
    submission: str
    seed: int
    score: float
    max_score: float
    elapsed_s: float
    error: str | None
    exercises: list[ExerciseResult]
    stdout: str = ""
    stderr: str = ""
    dropped_output_bytes: int = 0
    notes: list[str] = field(default_factory=list)


def resolve_submission(path: Path) -> Path:
    """The .py file to grade: the path itself, or the backprop.py inside a folder."""
    path = Path(path)
    if path.is_dir():
        for name in SUBMISSION_NAMES:
            if (path / name).is_file():
                return path / name
        raise SubmissionError(f"{path} holds no {' or '.join(SUBMISSION_NAMES)}")
    if not path.exists():
        raise SubmissionError(f"{path} does not exist")
    if path.suffix != ".py":
        raise SubmissionError(f"{path} is not a .py file")
    if path.is_symlink() or not path.is_file():
        raise SubmissionError(f"{path} is not a regular file")
    return path


def import_error_message(name: str, error: dict) -> str:
    kind = error.get("type", "Error")
    if error.get("forbidden"):
        return (f"{name} imports {error['forbidden']}, which this course forbids: compute the "
                "gradients with numpy")
    if kind in ("timeout", "crashed"):
        return f"{name} could not be imported: {error.get('message')}"
    where = f" at line {error['line']}" if error.get("line") else ""
    text = f": {error['text']}" if error.get("text") else ""
    message = error.get("message", "")
    if kind in ("SystemExit", "KeyboardInterrupt"):
        return f"{name} stopped the grader while being imported ({kind}{where}): remove " \
               "exit() and input() calls from the top level"
    return f"{name} could not be imported: {kind}{where}: {message}{text}"


def grade(submission: Path, assignment: Assignment | None = None, seed: int = 0,
          limits: Limits | None = None) -> Report:
    """Grade one .py submission against an assignment (the default one if None)."""
    started = time.monotonic()
    path = resolve_submission(Path(submission))
    assignment = assignment or load_assignment()
    limits = limits or Limits.from_spec(assignment.limits)
    planned: list[tuple] = []
    for ex in assignment.exercises:
        try:
            planned.append((ex, judging.plan(ex, seed), None))
        except judging.InternalError as e:
            planned.append((ex, [], str(e)))
    calls = [p.call for _, probes, _ in planned for p in probes]
    run = run_submission(path, calls, limits, hidden=[assignment.source.parent],
                         forbidden=assignment.forbidden_modules)
    results, error = [], None
    if run.import_error is not None:
        error = import_error_message(path.name, run.import_error)
    outcomes = iter(run.outcomes)
    for ex, probes, internal in planned:
        mine: list[Outcome] = [next(outcomes) for _ in probes]
        if internal:
            results.append(judging.internal_error(ex, internal))
        elif error:
            results.append(ExerciseResult(ex, 0.0, "error", [], [error]))
        else:
            results.append(judging.judge(ex, probes, mine, limits))
    score = round(sum(r.score for r in results), 4)
    return Report(submission=path.name, seed=seed, score=score,
                  max_score=assignment.max_score, elapsed_s=round(time.monotonic() - started, 3),
                  error=error, exercises=results, stdout=run.stdout, stderr=run.stderr,
                  dropped_output_bytes=run.dropped_output_bytes, notes=run.notes)


__all__ = ["Report", "SubmissionError", "grade", "resolve_submission", "Probe"]
