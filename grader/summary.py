"""A graded class on disk: gradebook, per-student feedback, results and a class summary.

Everything here is rebuilt from journal records, sorted by student, so a resumed batch and
an uninterrupted one write the same files.
"""

from __future__ import annotations

import json
import re
import statistics
from collections import Counter
from dataclasses import asdict
from pathlib import Path

from grader.batch import file_stem, release_key, safe_name
from grader.exercises import Assignment
from grader.gradebook import Corrections, Grade, LatePolicy, final_grade, write_csv
from grader.reports import (UNSHOWN_COUNT, advisory_note, confinement_line, render_markdown,
                            stub_hint, terminal_safe)

ID_FIELDS = ("sid", "email", "canvas_id", "gradescope_id")
INCIDENTS = {"timeout": "timed out", "crashed": "crashed or exited early",
             "forbidden": "used a forbidden module", "tamper": "tried to tamper with the "
             "grading (forged results or fake grades printed)", "import_error":
             "could not be imported", "unreadable": "could not be read",
             "grader_error": "were NOT graded: the grader itself failed (rerun the same command "
             "to grade them)",
             "memory": "were stopped for using too much memory",
             "processes": "were stopped for starting too many processes",
             "disk": "were stopped for filling their work folder",
             "signal": "tried to signal processes other than their own",
             "fork": "started processes (fork, subprocess, exec)",
             "files": "touched files outside their work folder",
             "network": "tried to use the network",
             "denied": "tried something the sandbox does not allow (PermissionError)",
             "output": "printed more than the grader keeps",
             "worker_died": "were graded by a fresh worker after the one that had them died "
             "(out of memory?)"}
MISSING = ("the submission defines no", "left out")  # with stubs: nothing to diagnose


def feedback_name(record: dict) -> str:
    """Unique per student: the entry key decides ("x y.py" and "x_y.py" differ)."""
    return f"{safe_name(record['student'], 'student')}__{file_stem(record['key'])}.md"


def write_gradebook(path: Path, records: list[dict], assignment: Assignment,
                    grades: dict[str, Grade], timed: bool) -> None:
    """One row per entry; `timed`: show the submission times (a platform's, or the file
    times that the late policy was told to use)."""
    ids = [f for f in ID_FIELDS if any(f in r["ids"] for r in records)]
    late = any(r.get("late") is not None for r in records)
    exercise_ids = [ex.id for ex in assignment.exercises]
    columns = (["student"] + ids + (["late"] if late else []) + (["submitted"] if timed else [])
               + ["raw", "late_penalty", "total", "max_score"] + exercise_ids + ["remarks"])
    rows = []
    for r in records:
        grade = grades[r["key"]]
        report = r.get("report")
        remarks = "; ".join(filter(None, [
            advisory_note(report.get("confinement") or {}) if report else "",
            r.get("entry_note"), r.get("grader_error"), report.get("error") if report else None,
            *grade.remarks]))
        # Not graded (the grader failed): no score at all, never a 0 to be uploaded.
        shown = (lambda v: f"{v:g}") if report else (lambda v: "")
        rows.append([r["student"]] + [r["ids"].get(f, "") for f in ids] +
                    ([("yes" if r.get("late") else "no") if r.get("late") is not None
                      else ""] if late else []) +
                    ([r.get("submitted") or ""] if timed else []) +
                    [shown(grade.raw), shown(grade.penalty), shown(grade.final),
                     f"{assignment.max_score:g}"] +
                    [shown(grade.exercises.get(i, 0)) for i in exercise_ids] + [remarks])
    write_csv(path, columns, rows)


def graded(records: list[dict]) -> list[dict]:
    """The records with a grade: not those the grader itself failed on."""
    return [r for r in records if r.get("report")]


def mistake_kind(hint: str) -> str:
    """A hint with its case-specific numbers and shapes taken out, to count alike ones."""
    return re.sub(r"\(\d[\d, ]*\)|[-+]?\d[\d.e+-]*", "#", hint)


def _histogram(scores: list[float], top: float, bins: int = 10) -> list[str]:
    counts = [0] * bins
    for s in scores:
        counts[min(int(s / top * bins), bins - 1) if top else 0] += 1
    width = max(counts) or 1
    lines = []
    for i, count in enumerate(counts):
        low, high = top * i / bins, top * (i + 1) / bins
        bar = "█" * round(30 * count / width)
        lines.append(f"  {low:5.1f}–{high:5.1f} | {bar} {count}")
    return lines


def _spread(values: list[float]) -> str:
    return (f"mean {statistics.mean(values):.1f}, median {statistics.median(values):g}, "
            f"min {min(values):g}, max {max(values):g}")


def _names(names: list[str], most: int | None) -> str:
    shown = names[:most] if most else names
    more = len(names) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more else "")


def overview(records: list[dict], grades: dict[str, Grade], assignment: Assignment,
             layout: str, policy: LatePolicy | None, most: int | None = None) -> list[str]:
    """The class in a few lines, for summary.md and the terminal: final scores (late
    penalties and corrections applied) with the raw ones beside them, lateness, and the
    submissions that earned nothing; `most` names shown per line (None: all)."""
    records = graded(records)
    if not records:
        return []
    mine = [grades[r["key"]] for r in records]
    final = [g.final for g in mine]
    lines = [f"final scores: {_spread(final)}; "
             f"{sum(f >= assignment.max_score for f in final)} with full marks (raw, before "
             f"late penalties and corrections of the total: {_spread([g.raw for g in mine])})"]
    if policy and layout == "folder" and not policy.use_file_times:
        lines.append("late: not checked: a plain folder holds no submission times "
                     "(`use_file_times: true` under `late:` takes the files' own)")
    elif policy:
        late = [g for g in mine if g.days_late]
        timed = layout == "gradescope" or (layout == "folder" and policy.use_file_times)
        untimed = [r["student"] for r in records if timed and not r.get("submitted")]
        lines.append(f"late: {len(late)} submission(s), {sum(g.penalty for g in late):g} "
                     f"points of late penalties in total; "
                     f"{sum(g.extended for g in mine)} extension(s) applied" +
                     (f"; no submission time, so not checked for lateness "
                      f"({len(untimed)}): {_names(untimed, most)}" if untimed else ""))
    empty = [r["student"] for r in records if "unreadable" in r.get("incidents", [])]
    zero = [r["student"] for r, g in zip(records, mine)
            if r["student"] not in empty and g.raw == 0]
    lines.append(f"empty (nothing gradable handed in): {len(empty)}" +
                 (f": {_names(empty, most)}" if empty else ""))
    lines.append(f"0 points: {len(zero)}" + (f": {_names(zero, most)}" if zero else ""))
    return lines


def to_look_at(records: list[dict]) -> str:
    """The class's incidents counted in one line, for the terminal ("" for none):
    summary.md names the students."""
    counts = Counter(i for r in records for i in set(r.get("incidents", [])))
    return ", ".join(f"{counts[i]} {label.split(' (')[0]}" for i, label in INCIDENTS.items()
                     if counts[i])


def summary_markdown(records: list[dict], grades: dict[str, Grade], assignment: Assignment,
                     layout: str, strays: list[str] = (),
                     policy: LatePolicy | None = None) -> str:
    scored = graded(records)
    scores = [grades[r["key"]].final for r in scored]
    top = assignment.max_score
    lines = [f"# Class summary: {assignment.title}", "",
             f"{len(records)} submissions ({layout} layout), scored out of {top:g}.", ""]
    tiers = {confinement_line(r["report"].get("confinement") or {}) for r in scored}
    lines += [f"The submissions ran in this sandbox: {t}." for t in sorted(tiers) if t]
    if assignment.pack:
        pack = assignment.pack.describe()
        lines.append(f"Course pack: {pack['name']} {pack['version']} (content {pack['hash']}).")
    lines.append("")
    if scores:
        lines += [f"- {line}" for line in overview(records, grades, assignment, layout, policy)]
        lines += ["", "## Score distribution (final scores)", "", "```",
                  *_histogram(scores, top), "```", ""]
    lines += ["## Per exercise (after staff corrections)", "",
              "| exercise | points | mean | pass rate |", "|---|---:|---:|---:|"]
    for ex in assignment.exercises:
        results = [e for r in scored for e in r["report"]["exercises"] if e["id"] == ex.id]
        points = [grades[r["key"]].exercises.get(ex.id, 0.0) for r in scored]
        mean = statistics.mean(points) if points else 0
        rate = sum(e["status"] == "passed" for e in results) / len(results) if results else 0
        lines.append(f"| {ex.id} | {ex.points:g} | {mean:.2f} | {rate:.0%} |")
    mistakes: Counter = Counter()
    example: dict = {}
    for r in scored:
        if r["report"]["error"]:
            continue
        for exercise_id, hints in r.get("hints", {}).items():
            # The first hint is the diagnosis; the rest are its consequences.
            if hints and not stub_hint(hints[0]) and not any(m in hints[0] for m in MISSING):
                kind = (exercise_id, mistake_kind(hints[0]))
                mistakes[kind] += 1
                example.setdefault(kind, hints[0])
    lines += ["", "## Most common mistakes", ""]
    if mistakes:
        lines += ["| students | exercise | diagnosis |", "|---:|---|---|"]
        for (exercise_id, kind), count in mistakes.most_common(15):
            # A student's message may hold a `|`: it would open columns of its own.
            diagnosis = example[(exercise_id, kind)].replace("|", "\\|")
            lines.append(f"| {count} | {exercise_id} | {diagnosis} |")
    else:
        lines.append("None.")
    lines += ["", "## Submissions to look at", ""]
    flagged = [(r, i) for r in records for i in r.get("incidents", [])]
    if flagged:
        for incident, label in INCIDENTS.items():
            who = [r["student"] for r, i in flagged if i == incident]
            if who:
                lines.append(f"- {label} ({len(who)}): {', '.join(who)}")
    else:
        lines.append("None: nothing timed out, crashed, broke a limit or tried what the "
                     "sandbox forbids.")
    noted = [r for r in records if r.get("entry_note")]
    if noted:
        lines += ["", "## Notes on entries", ""]
        lines += [f"- {r['student']}: {r['entry_note']}" for r in noted]
    if strays:
        lines += ["", "## Not submissions (not graded)", ""]
        lines += [f"- {name}" for name in strays]
    return terminal_safe("\n".join(lines) + "\n")  # a TA may `cat` it


def write_chart(path: Path, scores: list[float], assignment: Assignment) -> bool:
    """A histogram of `scores` as PNG, when matplotlib is installed (the `plot` extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(scores, bins=10, range=(0, assignment.max_score), color="#4c72b0",
            edgecolor="white")
    ax.set_xlabel("final score")
    ax.set_ylabel("students")
    ax.set_title(f"{assignment.title}: {len(scores)} submissions")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def with_corrections(report: dict, grade: Grade) -> dict:
    """`report` with the scores after the staff's overrides, per exercise and in total, so
    that the feedback adds up to the grade it states."""
    exercises = [e if grade.exercises.get(e["id"], e["score"]) == e["score"] else
                 {**e, "score": grade.exercises[e["id"]],
                  "status": f"{e['status']}, adjusted by staff"} for e in report["exercises"]]
    return {**report, "exercises": exercises,
            "score": round(sum(e["score"] for e in exercises), 4)}


def student_view_of(record: dict, key: str) -> dict | None:
    """The report the student may see with the exercises of `key` (`release_key`)
    released; None: the whole report."""
    if "views" in record:
        return record["views"].get(key)
    return record.get("student_report")  # journaled by an older grader: nothing released


def write_feedback(outdir: Path, records: list[dict], grades: dict[str, Grade],
                   seen: dict[str, Grade], key: str) -> None:
    """feedback/: what each student may see now (`key`: what is released), with the grade
    they may see (`seen`: of the exercises shown only); and feedback-staff/: everything,
    for those who do not see everything yet (hidden, after_due_date, after_published)."""
    feedback, staff = outdir / "feedback", outdir / "feedback-staff"
    for folder in (feedback, staff):
        for old in folder.glob("*.md"):
            old.unlink()
    feedback.mkdir(exist_ok=True)
    for r in records:
        name = feedback_name(r)
        if not r.get("report"):
            text = (f"# Feedback for {r['student']}\n\nThis submission has not been graded yet "
                    f"because of an internal error of the grader ({r.get('grader_error')}). "
                    "Course staff will grade it again.\n")
            (feedback / name).write_text(text, encoding="utf-8")
            continue
        view = student_view_of(r, key)
        # The staff's copy is written only when the student's differs from it.
        for folder, report, grade in ((feedback, view or r["report"], seen[r["key"]]),
                                      (staff, view and r["report"], grades[r["key"]])):
            if report:
                unshown = [UNSHOWN_COUNT] if folder is feedback and view else []
                notes = r.get("notes", []) + unshown + grade.remarks
                folder.mkdir(exist_ok=True)
                (folder / name).write_text(render_markdown(
                    with_corrections(report, grade), notes, r["student"], grade.final),
                    encoding="utf-8")


def write_outputs(outdir: Path, records: list[dict], assignment: Assignment, layout: str,
                  strays: list[str], policy: LatePolicy | None, corrections: Corrections,
                  release: tuple[str, ...] = ()) -> dict[str, Grade]:
    """Every output of a graded class, from its records, with the late `policy` and the
    staff's `corrections` applied, and the exercises of the `release`d visibilities shown
    in the feedback; returns the grades by key."""
    outdir.mkdir(parents=True, exist_ok=True)
    grades = {r["key"]: final_grade(r, assignment, layout, policy, corrections)
              for r in records}
    timed = any(r.get("submitted") for r in records) and (
        layout != "folder" or bool(policy and policy.use_file_times))
    write_gradebook(outdir / "gradebook.csv", records, assignment, grades, timed)
    key = release_key({ex.visibility for ex in assignment.exercises}, release)
    seen = {r["key"]: final_grade(r, assignment, layout, policy, corrections,
                                  student_view_of(r, key)) for r in records}
    write_feedback(outdir, records, grades, seen, key)
    results = {"assignment": assignment.title, "layout": layout,
               "pack": assignment.pack.describe() if assignment.pack else {},
               "max_score": assignment.max_score, "strays": list(strays),
               "students": [{**{k: v for k, v in r.items() if k not in ("hash", "fingerprint")},
                             "grade": asdict(grades[r["key"]])} for r in records]}
    (outdir / "results.json").write_text(json.dumps(results, indent=1, sort_keys=True),
                                         encoding="utf-8")
    text = summary_markdown(records, grades, assignment, layout, strays, policy)
    if corrections.unmatched:
        text += "\n## Corrections that match no student\n\n" + \
            "".join(f"- {w}\n" for w in corrections.unmatched)
    if write_chart(outdir / "summary.png", [grades[r["key"]].final for r in graded(records)],
                   assignment):
        text += "\n![Final score distribution](summary.png)\n"
    (outdir / "summary.md").write_text(text, encoding="utf-8")
    return grades
