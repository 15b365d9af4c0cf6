"""One grading, end to end: make cases, run the student in the sandbox, judge, score.

This is the function behind `backprop check` and every other mode; it never raises for a
bad submission, only for a bad configuration (missing file, broken exercise).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from grader import judging, scoring
from grader.exercises import Assignment, load_assignment
from grader import planning
from grader.planning import Probe
from grader.scoring import ExerciseResult
from grader.sandbox import Call, Limits, Outcome, SandboxRun, run_submission
from grader.submissions import Prepared, SubmissionError, defined_names, prepare

@dataclass
class Report:
    """Everything one grading found: the scores, per exercise, and what the run saw."""

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
    incidents: list[str] = field(default_factory=list)  # for the class summary
    confinement: dict = field(default_factory=dict)  # the sandbox tier and its layers
    syntax_errors: list[str] = field(default_factory=list)  # blocks left out of a .py
    skipped: list[str] = field(default_factory=list)  # "where: what", each statement once
    pack: dict = field(default_factory=dict)  # the course pack: name, version, content hash


def import_error_message(name: str, error: dict) -> str:
    kind = error.get("type", "Error")
    if error.get("private"):
        return f"{name} {judging.private_import_message(error)}"
    if error.get("forbidden"):
        return (f"{name} imports {error['forbidden']}, which this course forbids: compute the "
                "gradients with numpy")
    if kind in ("timeout", "crashed"):
        return f"{name} could not be imported: {error.get('message')}"
    where = f" at {error['where']}" if error.get("where") else ""
    text = f": {error['text']}" if error.get("text") else ""
    message = error.get("message", "")
    if kind in ("SystemExit", "KeyboardInterrupt"):
        return f"{name} stopped the grader while being imported ({kind}{where}): remove " \
               "exit() and input() calls from the top level"
    return f"{name} could not be imported: {kind}{where}: {message}{text}"


def _explain_missing(outcomes: list[Outcome], calls: list, prepared: Prepared) -> None:
    """Why a function is missing: left out for a syntax error, defined only by code that
    did not run, or a name close to it."""
    names: set[str] | None = None
    matches: dict[str, list[str]] = {}  # a function is called many times
    for outcome, call in zip(outcomes, calls):
        if outcome.status != "missing":
            continue
        why = prepared.left_out.get(call.function) or prepared.not_run.get(call.function)
        if why:
            outcome.error = {"message": why}
            continue
        if call.function not in matches:
            names = defined_names(prepared.source) if names is None else names
            # A forward pass (the template's checking tools) is never a misspelled backward.
            candidates = {n for n in names - {call.function} if not n.endswith("_forward")}
            import difflib  # only for a function that is missing: `check` rarely loads it

            matches[call.function] = difflib.get_close_matches(call.function, candidates, 1,
                                                                0.75)
        close = matches[call.function]
        if close:
            outcome.error = {"message": f"the submission defines no {call.function}; did you "
                                        f"mean {close[0]}? the grader calls {call.function}"}


NOT_RUN_NOTE = ("the code listed under 'Not run' did not run, each line says why: only what "
                "depends on it can fail. By default only definitions run; --run-all "
                "(check(run_all=True)) runs every cell but %% cells and cells that do not "
                "parse")
STOPPED_NOTE = ("top-level statements that raised were skipped, and those still running after "
                "{seconds:g} s or ending the process were stopped and skipped (listed under "
                "'Not run', with their line): only what depends on them can fail. Keep such "
                "code under `if __name__ == \"__main__\":` in a .py file")


def _skipped_notes(prepared: Prepared, run: SandboxRun | None, limits: Limits) -> list[str]:
    """Why statements are listed under 'Not run': left out by the notebook rule, or run
    and then skipped or stopped."""
    return ([NOT_RUN_NOTE] if prepared.skipped else []) + (
        [STOPPED_NOTE.format(seconds=limits.import_seconds)] if run and run.skipped else [])


def _not_run(prepared: Prepared, raised: list[dict]) -> list[str]:
    """Every statement that did not run, once: left out as not a definition, or raised.
    Seen again (a cell executed twice in a kernel), it is listed at its last place."""
    found: dict[str, str] = {}
    for where, what in prepared.skipped:
        found.pop(what, None)
        found[what] = where
    for error in raised:
        what = f"{error.get('type')}: {error.get('message', '')}"[:160] + (
            f" (at `{error['text'][:80]}`)" if error.get("text") else "")
        found.pop(what, None)
        found[what] = error.get("where", "line ?")
    return [f"{where}: {what}" for what, where in found.items()]


def _locate(error: dict | None, prepared: Prepared) -> None:
    """Say where an error is in the student's own terms (a notebook's cell and line)."""
    if error and isinstance(error.get("line"), int):
        error["where"] = prepared.where(error["line"])


VARIANT_NOTE = ("this course gives each student their own worked-example numbers: run with "
                "--student YOUR_ID (see `backprop variant`); without it the worked examples "
                "are checked against the lecture's numbers")


def grade(submission: Path, assignment: Assignment | None = None, seed: int = 0,
          limits: Limits | None = None, run_all: bool = False,
          identity: str | None = None) -> Report:
    """Grade a submission (.py, .ipynb, folder or .zip) against an assignment (the default
    one if None). Raises SubmissionError only when the path cannot be graded at all."""
    assignment = assignment or load_assignment()
    prepared = prepare(Path(submission), assignment.functions, run_all,
                       Path(assignment.student_file).stem)
    report = grade_prepared(prepared, assignment, seed, limits, identity=identity)
    if assignment.variant_seed is not None and identity is None:
        report.notes.append(VARIANT_NOTE)
    return report


def derive_seed(secret: str, identity: str) -> int:
    """Inputs of a grade that counts: unpredictable without the course's secret, stable
    for one student graded again (same identity), different from one student to the
    next, and never the public seed of `check`."""
    digest = hashlib.sha256(f"{secret}\0{identity}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def new_secret() -> str:
    return secrets.token_hex(16)


def write_secret(path: Path, secret: str | None = None, replace: bool = True) -> str:
    """A secret grading seed stored as {"secret": ...}, readable by its owner only (a
    fresh one unless given). With `replace` False an existing file raises FileExistsError."""
    secret = secret or new_secret()
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if replace else os.O_EXCL)
    with os.fdopen(os.open(path, flags, 0o600), "w") as f:
        json.dump({"secret": secret}, f)
    return secret


Plan = list[tuple]  # (exercise, probes, internal error or None) per exercise


def plan_assignment(assignment: Assignment, seed: int, identity: str | None = None,
                    base: Plan | None = None,
                    each: Callable[[list[Call]], None] = lambda calls: None) -> Plan:
    """Every exercise's probes for a seed. With the assignment's variant seed and a student
    identity, worked examples get that student's numbers; `base`, planned without an
    identity, is reused for everything else (a batch plans once per seed). `each` gets each
    exercise's calls as soon as they are planned (the sandbox runs them meanwhile)."""
    variant = (assignment.variant_seed, identity) if (
        identity and assignment.variant_seed is not None) else None
    planned: Plan = []
    for i, ex in enumerate(assignment.exercises):
        if base is not None and not (variant and "variants" in ex.spec):
            planned.append(base[i])
            continue
        try:
            planned.append((ex, scoring.plan(ex, seed, variant), None))
        except Exception as e:  # noqa: BLE001 - the exercise's own code (a pack's op) broke
            planned.append((ex, [], planning.failure(e)))
        each([p.call for p in planned[-1][1]])
    return planned


def grade_prepared(prepared: Prepared, assignment: Assignment, seed: int = 0,
                   limits: Limits | None = None, planned: Plan | None = None,
                   hidden: list[Path] = (), identity: str | None = None) -> Report:
    """Grade source that `submissions.prepare` (or a live notebook) produced; `planned`
    reuses the probes of `plan_assignment` (a batch plans once per seed); `hidden` names
    more paths the submission must not see (a platform's source and results)."""
    started = time.monotonic()
    limits = limits or Limits.from_spec(assignment.limits)
    plans: list[Plan] = [planned] if planned is not None else []

    def calls(each: Callable[[list[Call]], None] = lambda calls: None) -> list:
        """Planned while the sandboxed child starts, imports the submission and runs the
        exercises planned before: the two overlap."""
        planned_before = bool(plans)
        if not planned_before:
            plans.append(plan_assignment(assignment, seed, identity, each=each))
        made = [p.call for _, probes, _ in plans[0] for p in probes]
        if planned_before:
            each(made)  # all at once: they were planned before the child started
        return made

    error = prepared.error
    if error:
        run = None
        calls()
    else:
        run = run_submission(prepared.source, calls, limits,
                             hidden=[*assignment.staff_paths, *hidden],
                             forbidden=assignment.forbidden_modules,
                             module_name=Path(prepared.name).stem + ".py")
        for found in [run.import_error, *run.skipped, *(o.error for o in run.outcomes)]:
            _locate(found, prepared)
        _explain_missing(run.outcomes, calls(), prepared)
        if run.import_error is not None:
            error = import_error_message(prepared.name, run.import_error)
    outcomes = iter(run.outcomes if run else [])
    results = []
    for ex, probes, internal in plans[0]:
        mine: list[Outcome] = [next(outcomes) for _ in probes] if run else []
        if internal:
            results.append(scoring.internal_error(ex, internal))
        elif error:
            results.append(ExerciseResult(ex, 0.0, "error", [], [error]))
        else:
            results.append(scoring.judge(ex, probes, mine, limits))
    score = round(sum(r.score for r in results), 4)
    not_run = _not_run(prepared, run.skipped if run else [])
    found = {i for r in results for i in r.incidents} | set(run.incidents if run else ())
    if run and (run.dropped_output_bytes or any(o.printed_dropped for o in run.outcomes)):
        found.add("output")  # printed past what the grader keeps
    if prepared.error:
        found.add("unreadable")
    elif run.import_error is not None:
        kind = run.import_error.get("type")
        found.add("forbidden" if run.import_error.get("forbidden") else
                  kind if kind in ("timeout", "crashed") else "import_error")
    return Report(submission=prepared.name, seed=seed, score=score,
                  max_score=assignment.max_score, elapsed_s=round(time.monotonic() - started, 3),
                  error=error, exercises=results, stdout=run.stdout if run else "",
                  stderr=run.stderr if run else "",
                  dropped_output_bytes=run.dropped_output_bytes if run else 0,
                  notes=prepared.notes + _skipped_notes(prepared, run, limits),
                  skipped=not_run,
                  incidents=sorted(found),
                  confinement=run.confinement if run else {},
                  syntax_errors=list(prepared.left_out.values()),
                  pack=assignment.pack.describe() if assignment.pack else {})


__all__ = ["Report", "SubmissionError", "grade", "grade_prepared", "Probe"]
