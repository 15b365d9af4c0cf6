"""The grades that go back: late penalties, staff overrides, and the files an LMS imports.

Each student's final score is computed from the journal record in three steps, and every
step stays visible (gradebook columns, the student's feedback):

1. **raw**: the graded score, with the overrides of single exercises applied;
2. **late penalty**: `late.per_day` percent of the raw score for each day or part of a day
   after the due date (plus grace, or the student's extension), capped at
   `late.max_penalty` percent;
3. **final**: raw minus penalty, then an override of the total, if any.

The submission time comes from the layout: Gradescope's `:created_at:`; Canvas's download
carries no time, only its LATE flag (Canvas applied the due date and the students' own
extensions): a LATE submission counts one day, and an override sets other penalties; a
plain folder's file times are used only when the policy asks (`late.use_file_times`),
since copying a folder resets them.

overrides.csv (columns `student`, `exercise`, `points`, `reason`): `exercise` is an
exercise id or `total`; `points` sets the score (`7`) or adjusts it (`+2`, `-1.5`).
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path

from grader.exercises import Assignment


class GradebookError(ValueError):
    """A late policy, extensions or overrides file that cannot be used: the message says
    which file, which row and what to change."""


# ---- the late policy -----------------------------------------------------------------------


def _time(value, where: str) -> dt.datetime:
    if isinstance(value, dt.datetime):
        moment = value
    else:
        try:
            moment = dt.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise GradebookError(f"{where}: {value!r} is not a date and time; write it like "
                                 "2026-11-20T23:59:00+01:00") from None
    if moment.tzinfo is None:
        raise GradebookError(f"{where}: {value!r} has no time zone; add one, e.g. +01:00 or Z")
    return moment


def _rows(path: Path, required: tuple[str, ...]) -> list[tuple[int, dict]]:
    """(line number, row) of a CSV file with the required columns."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise GradebookError(f"{path}: missing column(s) {', '.join(missing)}; the "
                                     f"header must name {', '.join(required)}")
            return [(i, row) for i, row in enumerate(reader, start=2)]
    except OSError as e:
        raise GradebookError(f"{path}: cannot be read ({e.strerror})") from None


@dataclass
class LatePolicy:
    due: dt.datetime
    grace: dt.timedelta = dt.timedelta()
    per_day: float = 0.0  # percent of the raw score per day late
    max_penalty: float = 100.0  # percent
    use_file_times: bool = False
    extensions: dict[str, dt.datetime] = field(default_factory=dict)  # student -> due

    @classmethod
    def of(cls, assignment: Assignment) -> LatePolicy | None:
        spec = assignment.late
        if not spec:
            return None
        where = f"{assignment.source}: late"
        policy = cls(_time(spec["due"], f"{where}.due"),
                     dt.timedelta(minutes=float(spec.get("grace_minutes", 0))),
                     float(spec.get("per_day", 0)), float(spec.get("max_penalty", 100)),
                     bool(spec.get("use_file_times", False)))
        if spec.get("extensions"):
            path = assignment.source.parent / spec["extensions"]
            for line, row in _rows(path, ("student", "due")):
                policy.extensions[row["student"].strip().casefold()] = \
                    _time(row["due"], f"{path}, line {line}, column due")
        return policy

    def due_for(self, names: set[str]) -> dt.datetime:
        return next((self.extensions[n] for n in names if n in self.extensions), self.due)

    def days_late(self, record: dict, layout: str) -> tuple[int, str]:
        """(days late, how that was decided) for one journal record."""
        due = self.due_for(names_of(record)) + self.grace
        submitted = record.get("submitted")
        if layout == "canvas":
            late = bool(record.get("late"))
            return (1, "Canvas marks it late but gives no time: 1 day counted") if late \
                else (0, "")
        if (layout == "folder" and not self.use_file_times) or not submitted:
            return 0, ""
        when = _time(submitted, "submission time")
        late = (when - due).total_seconds()
        return (math.ceil(late / 86400), f"submitted {when.isoformat()}") if late > 0 else (0, "")

    def penalty(self, raw: float, days: int) -> float:
        return round(raw * min(self.per_day * days, self.max_penalty) / 100, 4)


def names_of(record: dict) -> set[str]:
    """Every name a record answers to (casefolded): for extensions and overrides."""
    names = {record["key"], record["student"], *record.get("ids", {}).values()}
    for member in record.get("members", []):
        names |= set(member.values())
    names |= {part for name in list(names) for part in str(name).split(";")}
    return {str(n).strip().casefold() for n in names if str(n).strip()}


# ---- overrides -----------------------------------------------------------------------------


@dataclass
class Override:
    student: str
    exercise: str  # an exercise id, or "total"
    points: str  # "7" sets, "+2" / "-1.5" adjusts
    reason: str

    def apply(self, score: float) -> float:
        value = float(self.points)
        return score + value if self.points.strip()[0] in "+-" else value

    def describe(self) -> str:
        change = self.points if self.points.strip()[0] in "+-" else f"set to {self.points}"
        return f"{self.exercise}: {change} ({self.reason})"


def read_overrides(path: Path, assignment: Assignment) -> list[Override]:
    if not path.exists():
        return []
    exercises = {ex.id for ex in assignment.exercises} | {"total"}
    found = []
    for line, row in _rows(path, ("student", "exercise", "points", "reason")):
        where = f"{path}, line {line}"
        override = Override(*(str(row[c] or "").strip()
                              for c in ("student", "exercise", "points", "reason")))
        if override.exercise not in exercises:
            raise GradebookError(f"{where}: exercise {override.exercise!r} is not in the "
                                 f"assignment; use one of {', '.join(sorted(exercises))}")
        try:
            float(override.points)
        except ValueError:
            raise GradebookError(f"{where}: points {override.points!r} is not a number (7 "
                                 "sets the score, +2 or -1.5 adjusts it)") from None
        if not override.reason:
            raise GradebookError(f"{where}: give a reason: the student sees it")
        found.append(override)
    return found


def unmatched(records: list[dict], policy: LatePolicy | None,
              overrides: list[Override]) -> list[str]:
    """Extensions and overrides that name no student of the class (a typo would otherwise
    be silently ignored)."""
    everyone = set().union(*(names_of(r) for r in records)) if records else set()
    found = [f"overrides: {o.student!r} ({o.describe()})" for o in overrides
             if o.student.casefold() not in everyone]
    found += [f"extensions: {name!r}" for name in (policy.extensions if policy else ())
              if name not in everyone]
    return found


# ---- the final grade -----------------------------------------------------------------------


@dataclass
class Grade:
    raw: float
    penalty: float
    final: float
    exercises: dict[str, float]
    days_late: int = 0
    remarks: list[str] = field(default_factory=list)  # late and override explanations


def final_grade(record: dict, assignment: Assignment, layout: str,
                policy: LatePolicy | None, overrides: list[Override]) -> Grade:
    report = record.get("report")
    scores = {e["id"]: e["score"] for e in report["exercises"]} if report else {}
    mine = [o for o in overrides if o.student.casefold() in names_of(record)]
    remarks = []
    for o in (o for o in mine if o.exercise != "total"):
        scores[o.exercise] = o.apply(scores.get(o.exercise, 0.0))
        remarks.append(f"adjusted by staff: {o.describe()}")
    raw = round(sum(scores.values()), 4)
    days, how = policy.days_late(record, layout) if policy and report else (0, "")
    penalty = policy.penalty(raw, days) if days else 0.0
    if days:
        remarks.append(f"{days} day(s) late ({how}): -{penalty:g} points")
    final = round(raw - penalty, 4)
    for o in (o for o in mine if o.exercise == "total"):
        final = round(o.apply(final), 4)
        remarks.append(f"adjusted by staff: {o.describe()}")
    return Grade(raw, penalty, final, scores, days, remarks)


# ---- files an LMS imports ------------------------------------------------------------------

# Canvas: Gradebook > Import takes the columns of its own export: Student, ID, SIS User ID,
# SIS Login ID, Section, then one column per assignment ("Title (assignment id)" updates an
# existing one; a plain title creates it). Students are matched on ID (Canvas user id).
CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
# Gradescope: an assignment's "Upload scores" / roster CSVs match students on Email (or
# SID); the score column is "Total Score", as in Gradescope's own grade export.
GRADESCOPE_COLUMNS = ("Name", "SID", "Email", "Total Score")


def export_rows(records: list[dict], grades: dict[str, Grade], target: str,
                column: str) -> tuple[list[str], list[list[str]], list[str]]:
    """(header, rows, warnings) of the import file for `target` (canvas or gradescope):
    one row per student, a group's final score given to each member. `column` names
    Canvas's assignment column."""
    header = list(CANVAS_COLUMNS) + [column] if target == "canvas" \
        else list(GRADESCOPE_COLUMNS)
    rows, warnings = [], []
    for record in records:
        grade = grades[record["key"]]
        people = record.get("members") or [{"name": record["student"], **record["ids"]}]
        for person in people:
            row = _canvas_row(person, record) if target == "canvas" else \
                _gradescope_row(person, record)
            if row is None:
                warnings.append(f"{person.get('name') or record['student']} ({record['key']}): "
                                f"no {'Canvas id' if target == 'canvas' else 'email or sid'}; "
                                "left out, enter this grade by hand")
                continue
            rows.append(row + [f"{grade.final:g}"])
    return header, rows, warnings


def _canvas_row(person: dict, record: dict) -> list[str] | None:
    canvas_id = person.get("canvas_id") or record["ids"].get("canvas_id")
    sis = person.get("sid") or ""
    login = person.get("email") or ""
    if not (canvas_id or sis or login):
        return None
    return [person.get("name") or record["student"], canvas_id or "", sis, login, ""]


def _gradescope_row(person: dict, record: dict) -> list[str] | None:
    email, sid = person.get("email") or "", person.get("sid") or ""
    if not (email or sid):
        return None
    return [person.get("name") or record["student"], sid, email]


def _cell(value: str) -> str:
    """A spreadsheet opens a cell starting with = + - @ as a formula: a student named
    "=HYPERLINK(...)" must stay text (numbers like -1.5 stay numbers)."""
    if value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        try:
            float(value)
        except ValueError:
            return "'" + value
    return value


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows([_cell(str(v)) for v in row] for row in rows)
