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
exercise id or `total`; `points` sets the score (`7`) or adjusts it (`+2`, `-1.5`), and
the result must stay within 0 and the exercise's (or the assignment's) points.

A student key (in overrides, extensions or `--only`) is a name, file name, id or email, in
any case (a name also in any word order, or run together as Canvas writes it); a key
that names several students is refused with the candidates listed (two students may
share a name), and so is a second row for one student's cell.
"""

from __future__ import annotations

import codecs
import csv
import io
import datetime as dt
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from grader.exercises import Assignment, as_written


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
        raise GradebookError(f"{where}: {str(as_written(value)).strip()!r} has no time "
                             "zone; add one, e.g. +01:00 or Z")
    return moment


def _text(path: Path) -> str:
    """A spreadsheet's text: UTF-8 (with or without Excel's byte-order mark) or UTF-16
    (Excel's "Unicode text"). Any other encoding is refused, never guessed: a name
    decoded wrong would silently match no one."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise GradebookError(f"{path}: cannot be read ({e.strerror})") from None
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise GradebookError(f"{path}, line {line}: not UTF-8 text (byte {data[e.start]:#x}); "
                             "save it as CSV UTF-8 (in Excel: Save As, 'CSV UTF-8')") from None


def _rows(path: Path, required: tuple[str, ...]) -> list[tuple[int, dict]]:
    """(line number, row) of a CSV file (or tab-separated text) with the required columns."""
    text = _text(path)
    header = text.partition("\n")[0]
    tabs = "\t" in header and "," not in header
    reader = csv.DictReader(io.StringIO(text, newline=""), dialect="excel-tab" if tabs
                            else "excel")
    missing = [c for c in required if c not in (reader.fieldnames or [])]
    if missing:
        raise GradebookError(f"{path}: missing column(s) {', '.join(missing)}; the "
                             f"header must name {', '.join(required)}")
    return [(i, row) for i, row in enumerate(reader, start=2)]


@dataclass
class Extension:
    student: str  # a key: name, file name, id or email
    due: dt.datetime
    where: str  # file and line, for messages


@dataclass
class LatePolicy:
    due: dt.datetime
    grace: dt.timedelta = dt.timedelta()
    per_day: float = 0.0  # percent of the raw score per day late
    max_penalty: float = 100.0  # percent
    use_file_times: bool = False
    extensions: list[Extension] = field(default_factory=list)

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
            first: dict[str, int] = {}  # line of each key's extension
            for line, row in _rows(path, ("student", "due")):
                at = f"{path}, line {line}"
                ext = Extension((row["student"] or "").strip(), _time(
                    row["due"], f"{at}, column due"), at)
                if ext.due <= policy.due:
                    raise GradebookError(f"{at}: {row['due'].strip()} is not after the due "
                                         f"date ({policy.due.isoformat()}): an extension "
                                         "gives a later one")
                if ext.student.casefold() in first:
                    raise GradebookError(f"{at}: a second extension for {ext.student!r} (the "
                                         f"first: line {first[ext.student.casefold()]}); "
                                         "keep one")
                first[ext.student.casefold()] = line
                policy.extensions.append(ext)
        return policy

    def days_late(self, record: dict, layout: str,
                  extension: Extension | None = None) -> tuple[int, str]:
        """(days late, why: a remark for the gradebook and the feedback) for one record."""
        due = extension.due if extension else self.due
        if layout == "canvas":
            if not record.get("late"):
                return 0, ""
            if extension:  # Canvas flagged it against its own due date, and gives no time
                return 0, (f"marked late by Canvas, covered by the extension to "
                           f"{due.isoformat()}: no penalty")
            return 1, "Canvas marks it late but gives no time: 1 day counted"
        submitted = record.get("submitted")
        if (layout == "folder" and not self.use_file_times) or not submitted:
            return 0, ""
        when = _time(submitted, "submission time")
        late = (when - due - self.grace).total_seconds()
        if late <= 0:
            return 0, ""
        return math.ceil(late / 86400), (f"submitted {when.isoformat()}, due "
                                          f"{due.isoformat()}" +
                                          (" by extension" if extension else ""))

    def penalty(self, raw: float, days: int) -> float:
        return round(raw * min(self.per_day * days, self.max_penalty) / 100, 4)


def names_of(record: dict) -> set[str]:
    """Every name a record answers to (casefolded): for extensions and overrides."""
    names = {record["key"], record["student"], *record.get("ids", {}).values()}
    for member in record.get("members", []):
        names |= set(member.values())
    names |= {part for name in list(names) for part in str(name).split(";")}
    return {str(n).strip().casefold() for n in names if str(n).strip()}


def describe(record: dict) -> str:
    """A student as a TA can tell them apart: name, entry and ids."""
    ids = [f"{k} {v}" for k, v in record.get("ids", {}).items()]
    return f"{record['student']} ({', '.join([record['key'], *ids])})"


def _name_forms(name: str) -> set[str]:
    """The ways a name is written: its words in any order and case, whatever joins them
    ("Smith, Ana", "ana_smith"), and run together, as Canvas names its downloads: last name
    first ("smithana")."""
    words = re.findall(r"[^\W_]+", str(name).casefold())
    if not words:
        return set()
    forms = {" ".join(sorted(words))}
    if len(words) > 1:
        forms |= {"".join(words), "".join(words[-1:] + words[:-1])}
    return forms


def _written_names(record: dict) -> set[str]:
    """The forms of the names of a record's people (not of its ids or file names)."""
    names = [record["student"], *(m.get("name", "") for m in record.get("members", []))]
    return set().union(*map(_name_forms, filter(None, names)))


def who(key: str, records: list[dict], where: str) -> dict | None:
    """The one record `key` names (a name, file name, id or email, any case; a name also
    written otherwise: "Eli Silva" for Canvas's "silvaeli"); None when it names nobody.
    Two students may share a name: a key that names several is refused, with the
    candidates, rather than applied to all of them."""
    found = [r for r in records if key.strip().casefold() in names_of(r)]
    if not found:
        forms = _name_forms(key)
        found = [r for r in records if forms & _written_names(r)]
    if len(found) > 1:
        raise GradebookError(f"{where}: {key!r} matches {len(found)} students: "
                             f"{'; '.join(map(describe, found))}. Name one by its entry "
                             "or an id shown here instead")
    return found[0] if found else None


# ---- overrides -----------------------------------------------------------------------------


@dataclass
class Override:
    student: str
    exercise: str  # an exercise id, or "total"
    points: str  # "7" sets, "+2" / "-1.5" adjusts
    reason: str
    where: str = ""  # file and line, for messages
    most: float = math.inf  # the points of the exercise (or of the assignment)

    @property
    def adjusts(self) -> bool:
        return self.points.strip()[0] in "+-"

    def apply(self, score: float) -> float:
        """The score after this override; GradebookError when it leaves 0..most."""
        value = round(score + float(self.points) if self.adjusts else float(self.points), 4)
        if not 0 <= value <= self.most:
            raise GradebookError(
                f"{self.where}: {self.exercise} of {self.student} would be {value:g} points" +
                (f" ({score:g} {self.points})" if self.adjusts else "") +
                f", but must stay within 0..{self.most:g}: correct the points")
        return value

    def describe(self) -> str:
        change = self.points if self.adjusts else f"set to {self.points}"
        return f"{self.exercise}: {change} ({self.reason})"


def read_overrides(path: Path, assignment: Assignment) -> list[Override]:
    if not path.exists():
        return []
    points = {ex.id: ex.points for ex in assignment.exercises} | {"total": assignment.max_score}
    found = []
    for line, row in _rows(path, ("student", "exercise", "points", "reason")):
        where = f"{path}, line {line}"
        override = Override(*(str(row[c] or "").strip()
                              for c in ("student", "exercise", "points", "reason")), where)
        if override.exercise not in points:
            raise GradebookError(f"{where}: exercise {override.exercise!r} is not in the "
                                 f"assignment; use one of {', '.join(sorted(points))}")
        override.most = points[override.exercise]
        try:
            value = float(override.points)
        except ValueError:
            raise GradebookError(f"{where}: points {override.points!r} is not a number (7 "
                                 "sets the score, +2 or -1.5 adjusts it)") from None
        if not override.adjusts:
            override.apply(value)  # a score to set is checked now, before any grading
        if not override.reason:
            raise GradebookError(f"{where}: give a reason: the student sees it")
        found.append(override)
    return found


@dataclass
class Corrections:
    """The staff's extensions and overrides, each tied to the one student it names."""

    extensions: dict[str, Extension] = field(default_factory=dict)  # record key -> it
    overrides: dict[str, list[Override]] = field(default_factory=dict)  # record key -> them
    unmatched: list[str] = field(default_factory=list)  # rows that name nobody: warnings


def corrections_for(records: list[dict], policy: LatePolicy | None,
                    overrides: list[Override]) -> Corrections:
    """Tie every extension and override to its student: GradebookError for a key that
    names several students and for a second row of one student's extension or cell;
    rows that name nobody are kept as warnings (a typo would otherwise be silent)."""
    found = Corrections()
    for ext in policy.extensions if policy else ():
        record = who(ext.student, records, ext.where)
        if record is None:
            found.unmatched.append(f"extensions: {ext.student!r} ({ext.where})")
        elif record["key"] in found.extensions:
            raise GradebookError(f"{ext.where}: a second extension for {describe(record)} "
                                 f"(the first: {found.extensions[record['key']].where}); "
                                 "keep one")
        else:
            found.extensions[record["key"]] = ext
    cells: dict[tuple[str, str], Override] = {}
    for o in overrides:
        record = who(o.student, records, o.where)
        if record is None:
            found.unmatched.append(f"overrides: {o.student!r} ({o.where}: {o.describe()})")
            continue
        first = cells.setdefault((record["key"], o.exercise), o)
        if first is not o:
            raise GradebookError(f"{o.where}: a second row for {o.exercise} of "
                                 f"{describe(record)} (the first: {first.where}); make "
                                 "them one row")
        found.overrides.setdefault(record["key"], []).append(o)
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
    extended: bool = False  # an extension applied to this student


def final_grade(record: dict, assignment: Assignment, layout: str,
                policy: LatePolicy | None, corrections: Corrections,
                view: dict | None = None) -> Grade:
    """The grade that counts. With `view` (the report a student may see now: exercises not
    shown yet left out), the grade that student may see, computed from the exercises shown
    alone, so that no total, penalty or correction tells the points of the others."""
    report = view or record.get("report")
    scores = {e["id"]: e["score"] for e in report["exercises"]} if report else {}
    mine = corrections.overrides.get(record["key"], [])
    extension = corrections.extensions.get(record["key"])
    if view is not None:  # none of the exercises not shown
        mine = [o for o in mine if o.exercise in scores or o.exercise == "total"]
    remarks = []
    for o in (o for o in mine if o.exercise != "total"):
        scores[o.exercise] = o.apply(scores.get(o.exercise, 0.0))
        remarks.append(f"adjusted by staff: {o.describe()}")
    raw = round(sum(scores.values()), 4)
    days, why = policy.days_late(record, layout, extension) if policy and report else (0, "")
    penalty = policy.penalty(raw, days) if days else 0.0
    if days:
        remarks.append(f"{days} day(s) late ({why}): -{penalty:g} points")
    elif why:
        remarks.append(why)
    final = round(raw - penalty, 4)
    totals = [o for o in mine if o.exercise == "total"]
    if view is not None and totals:
        totals = [_as_change(totals, final, final_grade(record, assignment, layout, policy,
                                                        corrections))]
    for o in totals:
        final = o.apply(final)
        remarks.append(f"adjusted by staff: {o.describe()}")
    return Grade(raw, penalty, final, scores, days, remarks, extension is not None)


def _as_change(totals: list[Override], shown: float, whole: Grade) -> Override:
    """The staff's corrections of the total as a student sees them, next to a `shown` total
    without the exercises not shown yet: the change they made to the grade that counts (a
    total they set includes the hidden points), never taking the student's below 0."""
    change = max(whole.final - (whole.raw - whole.penalty), -shown)
    points = f"{change:+.4f}".rstrip("0").rstrip(".")  # as exact as grades are kept
    return Override(totals[0].student, "total", points, "; ".join(o.reason for o in totals))


# ---- files an LMS imports ------------------------------------------------------------------

# Canvas: Gradebook > Import takes the columns of its own export: Student, ID, SIS User ID,
# SIS Login ID, Section, then one column per assignment ("Title (assignment id)" updates an
# existing one; a plain title creates it). Students are matched on ID (Canvas user id).
CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
# Gradescope: an assignment's "Upload scores" / roster CSVs match students on Email (or
# SID); the score column is "Total Score", as in Gradescope's own grade export.
GRADESCOPE_COLUMNS = ("Name", "SID", "Email", "Total Score")
# A roster's columns (any case): Canvas's gradebook export, Gradescope's roster and grade
# downloads, or a plain CSV. See docs/export.md for the sources.
ROSTER_COLUMNS = {"name": ("student", "name"), "first": ("first name",),
                  "last": ("last name",), "id": ("id", "canvas id", "canvas_id"),
                  "sid": ("sis user id", "sid"), "login": ("sis login id", "login", "login id"),
                  "email": ("email", "email address"), "section": ("section", "sections")}
STRONG = ("id", "sid", "login", "email")  # one of these names one person
NOT_STUDENTS = ("points possible", "manual posting", "muted")  # rows under Canvas's header


@dataclass
class Export:
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)  # why students have no row
    absent: list[str] = field(default_factory=list)  # roster students who handed nothing in
    rowless: int = 0  # students of the class without a row


def read_roster(path: Path) -> list[dict]:
    """The students of an LMS roster: our fields (ROSTER_COLUMNS) and the `line`."""
    rows = _rows(path, ())
    header = list(rows[0][1]) if rows else []
    columns = {f: next((c for c in header if c and c.strip().casefold() in names), None)
               for f, names in ROSTER_COLUMNS.items()}
    if rows and not any(columns[f] for f in (*STRONG, "name", "last")):
        raise GradebookError(f"{path}: no column names a student; give one of Student, Name, "
                             "ID, SID, SIS User ID, SIS Login ID, login or Email")
    people = []
    for line, row in rows:
        person = {f: (row.get(c) or "").strip() for f, c in columns.items() if c}
        person["name"] = person.get("name") or " ".join(
            filter(None, (person.get("first"), person.get("last"))))
        if any(person.values()) and person["name"].casefold() not in NOT_STUDENTS:
            people.append({**person, "line": line})
    return people


def _name_key(name: str) -> str:
    """"Smith, Ana", "Ana Smith" and "ana_smith" are one name."""
    return " ".join(sorted(re.findall(r"[^\W_]+", name.casefold())))


def _people(records: list[dict]) -> list[tuple[dict, dict]]:
    """(person, record) for every student of the class: a group's members one by one."""
    return [(person, r) for r in records
            for person in r.get("members") or [{"name": r["student"], **r["ids"]}]]


def _class_fields(person: dict, record: dict) -> dict:
    """What the class itself knows of a person, as roster fields."""
    return {"name": person.get("name") or record["student"],
            "id": person.get("canvas_id") or record["ids"].get("canvas_id", ""),
            "sid": person.get("sid", ""), "login": person.get("email", ""),
            "email": person.get("email", "")}


def _join(people: list[tuple[dict, dict]], roster: list[dict], out: Export) -> dict[int, dict]:
    """The roster row of each person (by index) that one row names unambiguously: by id,
    email or login, else by a name unique on both sides. Every person left without a row
    goes to `out.left_out`, every row without a person to `out.absent`."""
    known = [{str(v).strip().casefold() for v in person.values() if str(v).strip()} |
             (names_of(record) if len(record.get("members") or [0]) == 1 else set())
             for person, record in people]
    names = [_name_key(person.get("name") or record["student"]) for person, record in people]
    roster_names = Counter(_name_key(row["name"]) for row in roster)
    taken: dict[int, dict] = {}
    disputed: set[int] = set()  # named by a row that names others too, or by two rows
    for row in roster:
        strong = {row[f].casefold() for f in STRONG if row.get(f)}
        found = [i for i, ids in enumerate(known) if strong & ids]
        key = _name_key(row["name"])
        if not found and key and roster_names[key] == 1 and names.count(key) == 1:
            found = [names.index(key)]
        label = f"roster line {row['line']} ({row['name'] or ', '.join(strong)})"
        if len(found) > 1:
            out.left_out.append(f"{label} matches {len(found)} graded students: " +
                                "; ".join(describe(people[i][1]) for i in found))
            disputed.update(found)
        elif not found:
            out.absent.append(label)
        elif found[0] in taken:
            out.left_out.append(f"{label} and roster line {taken[found[0]]['line']} both "
                                f"match {describe(people[found[0]][1])}")
            taken[found[0]] = {}  # neither row: the TA decides
            disputed.add(found[0])
        else:
            taken[found[0]] = row
    for i, (person, record) in enumerate(people):
        if not taken.get(i):
            why = "the roster names them ambiguously (above)" if i in disputed \
                else "not in the roster"
            out.left_out.append(f"{person.get('name') or record['student']} "
                                f"({record['key']}): {why}")
    return {i: row for i, row in taken.items() if row}


def _platform_row(fields: dict, target: str) -> list[str] | None:
    """A row of `target`'s import file, without the score; None without an identifier
    the platform matches on."""
    get = lambda f: fields.get(f) or ""  # noqa: E731 - a roster may lack any column
    if target == "canvas":
        if not (get("id") or get("sid") or get("login")):
            return None
        return [get("name"), get("id"), get("sid"), get("login"), get("section")]
    return [get("name"), get("sid"), get("email")] if get("email") or get("sid") else None


def export_rows(records: list[dict], grades: dict[str, Grade], target: str, column: str,
                roster: list[dict] | None = None) -> Export:
    """The import file for `target` (canvas or gradescope): one row per student with the
    final score, a group's given to each member. With `roster` (`read_roster`), the rows
    carry the LMS's own identifiers. `column` names Canvas's assignment column."""
    out = Export(list(CANVAS_COLUMNS) + [column] if target == "canvas"
                 else list(GRADESCOPE_COLUMNS))
    people = _people(records)
    fields = {i: _class_fields(*p) for i, p in enumerate(people)} if roster is None \
        else _join(people, roster, out)
    need = "Canvas id, SIS User ID or SIS Login ID" if target == "canvas" else "email or SID"
    for i, row in sorted(fields.items()):
        record = people[i][1]
        found = _platform_row(row, target)
        if record.get("report") is None:  # the grader failed on it: there is no grade
            out.left_out.append(f"{describe(record)}: NOT graded, the grader failed "
                                f"({record.get('grader_error')}): run the same `backprop "
                                "grade` again, then export")
        elif found is None:
            where = f"roster line {row['line']}: " if "line" in row else ""
            out.left_out.append(f"{where}{row['name']} ({record['key']}): no {need}")
        else:
            out.rows.append(found + [f"{grades[record['key']].final:g}"])
    out.rowless = len(people) - len(out.rows)
    return out


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
