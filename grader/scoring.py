"""Score an exercise: dispatch its planning and judging by kind, turn the checks into
points, a status and hints. Every kind plugs in here, the composition included.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from grader import cases, composition, judging, planning, stochastic
from grader.exercises import Exercise
from grader.judging import CheckResult, incidents, kind_of
from grader.planning import Probe
from grader.sandbox import Limits, Outcome


@dataclass
class ExerciseResult:
    """One exercise's verdict: its score, status, checks and hints."""

    exercise: Exercise
    score: float
    status: str
    checks: list[CheckResult] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)
    incidents: list[str] = field(default_factory=list)  # timeout, crashed, forbidden, tamper
    printed: str = ""  # what the student's functions printed, first lines


PRINTED_LINES, PRINTED_CHARS = 20, 4000


# The sandbox's temporary work folder, as a warning names the student's file in it.
WORK_FOLDER = re.compile(r"(?:/[^\s/:]+)*/backprop-[a-z]+-\d+-[^/\s]+/")


def printed_by(outcomes: list[Outcome]) -> str:
    """The first lines the exercise's calls printed, and how much more was cut; a warning
    names the student's file, not the folder it ran from (which changes every run)."""
    text = WORK_FOLDER.sub("", "".join(o.printed for o in outcomes))
    dropped = sum(o.printed_dropped for o in outcomes) + max(len(text) - PRINTED_CHARS, 0)
    lines = text[:PRINTED_CHARS].splitlines()
    dropped += sum(len(line) + 1 for line in lines[PRINTED_LINES:])
    cut = f"… ({dropped} more characters)" if dropped else ""
    return "\n".join(lines[:PRINTED_LINES] + ([cut] if cut else []))


PLANNERS: dict[str, Callable[[Exercise, int], list[Probe]]] = {
    "gate": planning.plan_gate, "forward": planning.plan_gate,
    "function": planning.plan_function,
    "backprop": planning.plan_backprop, "composition": composition.plan_two_layer_net}
JUDGES: dict[str, Callable[..., list[CheckResult]]] = {
    "gate": judging.judge_arrays, "forward": judging.judge_arrays,
    "function": judging.judge_arrays,
    "backprop": judging.judge_backprop, "graph": judging.judge_answer,
    "composition": composition.judge_two_layer_net}


def plan(exercise: Exercise, seed: int, variant: tuple[int, str] | None = None
         ) -> list[Probe]:
    """The probes of an exercise; `variant` = (public variant seed, student identity) gives
    a worked example the student's own numbers."""
    if exercise.kind == "graph":
        return planning.plan_graph(exercise, variant)
    if _stochastic(exercise):
        rng = cases.rng_for(seed, exercise.id)
        plan_random = stochastic.plan_forward if exercise.kind == "forward" else \
            stochastic.plan_backward
        return plan_random(exercise, rng)
    return PLANNERS[exercise.kind](exercise, seed)


def _stochastic(exercise: Exercise) -> bool:
    return exercise.kind in ("gate", "forward") and exercise.op.convention == "stochastic"


def hints_of(checks: list[CheckResult]) -> list[str]:
    """One hint per kind of mistake. When the values are wrong, only what the values
    check says: the other checks' failures are consequences, and a second diagnosis of
    the same output could contradict the first."""
    if any(c.name == "values" and not c.passed for c in checks):
        checks = [c for c in checks if c.name == "values"]
    kinds: dict[str, str] = {}
    for c in checks:
        for hint in c.hints if not c.passed else ():
            kinds.setdefault(kind_of(hint), hint)
    return list(kinds.values())


def judge(exercise: Exercise, probes: list[Probe], outcomes: list[Outcome],
          limits: Limits) -> ExerciseResult:
    judge_kind = stochastic.judge if _stochastic(exercise) else JUDGES[exercise.kind]
    checks = judge_kind(exercise, probes, outcomes, limits)
    total = sum(c.weight for c in checks)
    # Shapes, linearity, zero upstream, untouched arguments... are worth something only on
    # top of right values: an answer without the math earns nothing, whatever the cases.
    wrong_values = any(c.name == "values" and not c.passed for c in checks)
    earned = 0.0 if wrong_values else sum(c.weight for c in checks if c.passed)
    score = round(exercise.points * earned / total, 4) if total else 0.0
    hints = hints_of(checks)
    if not wrong_values and all(c.passed for c in checks):
        status = "passed"
    elif score > 0:
        status = "partial"
    elif all(o.status not in ("ok", "raised") for o in outcomes):
        status = "error"
    else:
        status = "failed"
    return ExerciseResult(exercise, score, status, checks, hints, incidents(outcomes),
                          printed_by(outcomes))


def internal_error(exercise: Exercise, message: str) -> ExerciseResult:
    hint = (f"internal error in this exercise ({message}); your answer was not judged: "
            "please tell the course staff")
    return ExerciseResult(exercise, 0.0, "error",
                          [CheckResult("reference", 1.0, False, hint, hint)], [hint])

