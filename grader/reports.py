"""Reports: the JSON contract of `backprop check --json` and the terminal table."""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from pathlib import Path

import click
import numpy as np

from grader.exercises import Exercise
from grader.grading import Report
from grader.planning import Probe
from grader.scoring import ExerciseResult, hints_of

NOT_SHOWN_YET = ("a gate of an exercise that is not shown yet goes wrong here; its "
                 "feedback comes with that exercise")
# In feedback that leaves exercises out (the platforms say it in their total's line).
UNSHOWN_COUNT = ("exercises not shown yet count toward the grade too: the score here is "
                 "of the exercises shown")


def _num(x: float) -> float:
    return float(round(x, 4))


def exercise_json(result: ExerciseResult) -> dict:
    ex = result.exercise
    return {"id": ex.id, "title": ex.title, "score": _num(result.score),
            "max_score": _num(ex.points), "status": result.status,
            "functions": ex.functions,
            "checks": [{"name": c.title, "passed": c.passed, "message": c.message}
                       for c in result.checks],
            "hints": result.hints, "printed": result.printed}


def report_json(report: Report) -> dict:
    """The report contract of DESIGN.md, with what the table says besides: its notes and
    every statement that did not run ("where: what")."""
    return {"submission": report.submission, "seed": report.seed, "score": _num(report.score),
            "max_score": _num(report.max_score), "elapsed_s": report.elapsed_s,
            "error": report.error, "exercises": [exercise_json(r) for r in report.exercises],
            "confinement": report.confinement, "notes": report.notes,
            "not_run": report.skipped, "pack": report.pack}


def stub_hint(hint: str) -> bool:
    """Is this the hint of an untouched stub (NotImplementedError, or a worked-example
    dict not filled in)?"""
    return hint == "not implemented yet" or "not filled in yet" in hint


def _not_started(result: ExerciseResult) -> bool:
    return bool(result.hints) and stub_hint(result.hints[0])


def shown_now(exercise: Exercise) -> bool:
    """Visibility, one rule everywhere: only `visible` exercises are shown before their
    time (hidden, after_due_date and after_published are not)."""
    return exercise.visibility == "visible"


def without_unshown(result: ExerciseResult, unshown: set[str]) -> ExerciseResult:
    """The result with every failed check that reuses a gate of an unshown exercise (a
    composition) made generic, so that none of that exercise's feedback shows here."""
    reused = [not c.passed and bool(unshown & set(c.depends_on)) for c in result.checks]
    if not any(reused):
        return result
    checks = [replace(c, message=NOT_SHOWN_YET, hint=NOT_SHOWN_YET, more_hints=[]) if r else c
              for c, r in zip(result.checks, reused)]
    return replace(result, checks=checks, hints=hints_of(checks))


def student_view(report: Report) -> Report:
    """What the student may see now: exercises not shown yet are left out, messages that
    reuse their gates are made generic, and the total counts the shown exercises only."""
    unshown = {r.exercise.id for r in report.exercises if not shown_now(r.exercise)}
    if not unshown:
        return report
    kept = [without_unshown(r, unshown) for r in report.exercises
            if r.exercise.id not in unshown]
    return replace(report, exercises=kept, score=round(sum(r.score for r in kept), 4),
                   max_score=sum(r.exercise.points for r in kept))


def confinement_line(confinement: dict) -> str:
    """How the submission was confined, in one line (every report names it)."""
    if not confinement:
        return ""
    text = f"sandbox: {confinement['tier']} ({confinement['description']})"
    if confinement.get("missing"):
        text += f"; not available here: {', '.join(confinement['missing'])}"
    return text


# Everything that drives a terminal but the grader's own styles (bold, a foreground color,
# reset: what `click.style` writes): escape sequences (OSC sets the title, hyperlinks or the
# clipboard; CSI moves the cursor and can overwrite lines; other SGR styles can conceal
# text or draw it in the background's color), C0 controls but newline and tab (a carriage
# return overwrites too), DEL and C1 controls. Students' prints, error messages, file and
# function names all reach the TA's terminal. A sequence left unterminated (a message cut
# short) ends at the line's end: never past it, where the next rows of the report are.
_UNSAFE = re.compile(r"\x1b(?!\[(?:0|1|3[1-7]|9[1-7])m)"
                     r"(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b\n]*(?:\x07|\x1b\\)?"
                     r"|[PX^_][^\x1b\n]*(?:\x1b\\)?|[^\n]?)|[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f-\x9f]")


def terminal_safe(text: str) -> str:
    """`text` with only printable characters, newlines, tabs and color codes left."""
    return _UNSAFE.sub("", text)


def advisory_note(confinement: dict) -> str:
    """For a grade that counts, run (with --allow-unconfined) where the sandbox was not
    complete: said on every row, feedback file and platform result. Empty otherwise."""
    if not confinement.get("advisory"):
        return ""
    return ("advisory: not confined (the sandbox lacked " +
            ", ".join(confinement.get("lacks") or ["its layers"]) + "; staff graded with "
            "--allow-unconfined, so this score is advisory)")


MAX_NOT_RUN = 40  # statements listed under "Not run"


def notes_and_not_run(report: Report) -> list[str]:
    """The notes, then each statement that did not run: for the plain-text outputs."""
    return report.notes + [f"not run: {line}" for line in report.skipped[:MAX_NOT_RUN]]


def status_labels(report: Report) -> dict[str, str]:
    """What each exercise's status column says: its status, or "not started" for a stub."""
    return {r.exercise.id: "not started" if _not_started(r) else r.status
            for r in report.exercises}


STATUS_COLORS = {"passed": "green", "partial": "yellow", "failed": "red", "error": "magenta"}


def _fmt(x: float) -> str:
    return f"{round(x, 2):g}"


def render_table(report: Report, color: bool = False) -> str:
    """One line per exercise (score/max, status, first hint), a total, then every hint."""
    width = shutil.get_terminal_size((100, 24)).columns
    style = (lambda text, **kw: click.style(text, **kw)) if color else (lambda text, **kw: text)
    id_width = max([len("exercise")] + [len(r.exercise.id) for r in report.exercises])
    lines = [style(f"backprop-grader · {report.submission} · seed {report.seed}", bold=True), ""]
    shown_whole = set()
    if report.error:
        lines += [style(report.error, fg="red"), ""]
    labels = status_labels(report)
    status_width = max([8] + [len(label) for label in labels.values()])
    room = max(width - id_width - 19 - status_width, 20)
    header = f"  {'exercise':<{id_width}}  {'score':>9}  {'status':<{status_width}}  first hint"
    lines.append(style(header, bold=True))
    for r in report.exercises:
        score = f"{_fmt(r.score)}/{_fmt(r.exercise.points)}"
        # Made safe before it is cut, so that no cut leaves half an escape sequence.
        hint = terminal_safe(r.hints[0]) if r.hints and not report.error else ""
        if len(r.hints) == 1 and len(hint) <= room:
            shown_whole.add(r.exercise.id)
        if len(hint) > room:
            hint = hint[:room - 1] + "…"
        label = labels[r.exercise.id]
        status = style(f"{label:<{status_width}}",
                       fg=None if label == "not started" else STATUS_COLORS[r.status])
        lines.append(f"  {r.exercise.id:<{id_width}}  {score:>9}  {status}  {hint}".rstrip())
    total = f"{_fmt(report.score)}/{_fmt(report.max_score)}"
    lines += [f"  {'total':<{id_width}}  {total:>9}  public checks; your grade comes from the "
              "course's run", ""]
    new = [name for name, label in labels.items() if label == "not started"]
    if new and not report.error:
        graphs = any(r.exercise.kind == "graph" for r in report.exercises)
        lines += [f"Not started yet: {len(new)} exercise(s). Start with {new[0]}" +
                  (" (`backprop show` draws the worked examples)." if graphs else "."), ""]
    detailed = [r for r in report.exercises
                if r.status != "passed" and r.hints and r.exercise.id not in shown_whole]
    if detailed and not report.error:
        lines.append(style("Hints", bold=True))
        for r in detailed:
            lines.append(f"  {r.exercise.id}:")
            lines += [f"    - {h}" for h in r.hints]
        lines.append("")
    printing = [r for r in report.exercises if r.printed]
    if printing:
        lines.append(style("Printed by your functions", bold=True))
        for r in printing:
            lines.append(f"  {r.exercise.id}:")
            lines += [f"    | {line}" for line in r.printed.splitlines()]
        lines.append("")
    lines += [style(f"note: {note}", fg="yellow") for note in report.notes]
    if report.skipped:
        lines += ["", style("Not run", bold=True)]
        lines += [f"  - {line}" for line in report.skipped[:MAX_NOT_RUN]]
        if len(report.skipped) > MAX_NOT_RUN:
            lines.append(f"  (and {len(report.skipped) - MAX_NOT_RUN} more)")
        lines.append("")
    if report.confinement:
        weak = report.confinement["tier"] == "unconfined"
        lines.append(style(confinement_line(report.confinement), fg="yellow" if weak else None))
    if report.dropped_output_bytes:
        lines.append(f"(the submission printed {report.dropped_output_bytes} more bytes than "
                     "the grader keeps; they were dropped)")
    return terminal_safe("\n".join(lines).rstrip() + "\n")


PUBLIC_NOTE = ("These are the public checks, on the course's public seed. Your grade comes "
               "from the course's own run, on inputs you have not seen.\n")
HTML_COLORS = {"passed": "#1a7f37", "partial": "#9a6700", "failed": "#cf222e",
               "error": "#8250df"}


def render_html(report: Report) -> str:
    """The same table for a notebook: one row per exercise with every hint."""
    import html  # notebooks only: `check` never loads it

    esc = html.escape
    rows = []
    labels = status_labels(report)
    for r in report.exercises:
        hints = "" if report.error else "<br>".join(esc(h) for h in r.hints)
        if r.printed:
            hints += f"<pre style='margin:0'>{esc(r.printed)}</pre>"
        label = labels[r.exercise.id]
        color = "inherit" if label == "not started" else HTML_COLORS[r.status]
        rows.append(f"<tr><td><code>{esc(r.exercise.id)}</code></td>"
                    f"<td style='text-align:right'>{_fmt(r.score)}/{_fmt(r.exercise.points)}</td>"
                    f"<td style='color:{color}'><b>{label}</b></td>"
                    f"<td style='text-align:left'>{hints}</td></tr>")
    error = f"<p style='color:#cf222e'>{esc(report.error)}</p>" if report.error else ""
    notes = "".join(f"<p><i>note: {esc(n)}</i></p>" for n in report.notes)
    if report.skipped:
        items = "".join(f"<li><code>{esc(line)}</code></li>"
                        for line in report.skipped[:MAX_NOT_RUN])
        more = len(report.skipped) - MAX_NOT_RUN
        items += f"<li>and {more} more</li>" if more > 0 else ""
        notes += f"<details><summary>Not run ({len(report.skipped)})</summary><ul>{items}</ul>" \
                 "</details>"
    sandbox = " · ".join(filter(None, (advisory_note(report.confinement),
                                       confinement_line(report.confinement))))
    notes += f"<p><small>{esc(sandbox)}</small></p>" if sandbox else ""
    return (f"<div><b>backprop-grader</b>: {_fmt(report.score)}/{_fmt(report.max_score)}"
            f"{error}<table><tr><th>exercise</th><th>score</th><th>status</th>"
            f"<th style='text-align:left'>hints</th></tr>{''.join(rows)}</table>{notes}"
            f"<p><small>{esc(PUBLIC_NOTE)}</small></p></div>")


def render_markdown(report: dict, notes: list[str] = (), student: str | None = None,
                    final: float | None = None) -> str:
    """Per-student feedback from a JSON report: the hints the student would see, and the
    final grade when late penalties or staff adjustments changed it (see the notes)."""
    title = f"# Feedback for {student}" if student else "# Feedback"
    lines = [title, "", f"Submission `{report['submission']}`: "  # its seed stays private
             f"**{_fmt(report['score'])} / {_fmt(report['max_score'])}**", ""]
    if final is not None and round(final, 4) != round(report["score"], 4):
        lines += [f"Final grade: **{_fmt(final)} / {_fmt(report['max_score'])}** (see the "
                  "notes below)", ""]
    if report["error"]:
        lines += [f"> {report['error']}", ""]
    if advisory_note(report.get("confinement") or {}):
        lines += [f"> {advisory_note(report['confinement'])}", ""]
    lines += ["| exercise | score | status |", "|---|---:|---|"]
    lines += [f"| {e['title']} (`{e['id']}`) | {_fmt(e['score'])}/{_fmt(e['max_score'])} | "
              f"{e['status']} |" for e in report["exercises"]]
    hinted = [e for e in report["exercises"]
              if e["hints"] and e["status"] != "passed" and not report["error"]]
    if hinted:
        lines += ["", "## What to fix", ""]
        for e in hinted:
            lines.append(f"**{e['id']}**")
            lines += [f"- {h}" for h in e["hints"]]
            lines.append("")
    printing = [e for e in report["exercises"] if e.get("printed")]
    if printing:
        lines += ["", "## Printed by your functions", ""]
        for e in printing:
            lines += [f"**{e['id']}**", "", "```", e["printed"], "```", ""]
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return terminal_safe("\n".join(lines).rstrip() + "\n")


def save_failing_cases(report: Report, folder: Path) -> list[tuple[Path, Probe]]:
    """Write the inputs of every failing case to `folder` as `<exercise>-<check>.npz`, one
    file per case, each array named as the function's argument, so that the student can
    rerun it (the template's `check_case`). Only what the student's function was given:
    never an expected answer. Cases of a whole network are left out (they chain calls)."""
    folder.mkdir(parents=True, exist_ok=True)
    written, seen = [], set()
    for result in report.exercises:
        for check in result.checks:
            probe = check.case
            if check.passed or probe is None or id(probe.call) in seen:
                continue
            call = probe.call
            if call.form == "program" or not call.args or len(call.args) != len(probe.arg_names):
                continue
            seen.add(id(probe.call))
            path = folder / f"{result.exercise.id}-{check.name}.npz"
            np.savez(path, **{name: np.asarray(value)
                              for name, value in zip(probe.arg_names, call.args)})
            written.append((path, probe))
    return written
