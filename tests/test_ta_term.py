"""A TA's whole term without surprises: student keys that name one student, corrections
that stay within the points, a class joined to the LMS's own roster, numbers that say what
the grade is, an output folder that is the TA's alone, and errors instead of tracebacks.
Everything through the real CLI, on real class folders, downloads and roster files."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, SOLUTION, SUBMISSIONS, run_cli
from test_ta import DUE, _batch, _wait_for_journal, canvas_class, course, folder_class, rows

MUL_SWAPPED = (SUBMISSIONS / "bad" / "mul_swapped.py").read_text()


def small_course(folder: Path, late: dict | None = None, **visibility: str) -> Path:
    """An assignment of three built-in exercises picked by id: no exercise file copied."""
    folder.mkdir(parents=True, exist_ok=True)
    data = {"title": "HW3", "limits": {"exercise_seconds": 2, "total_seconds": 30},
            "exercises": [{"id": i, "points": p, **({"visibility": visibility[i]}
                                                     if i in visibility else {})}
                          for i, p in (("mul", 5), ("relu", 8), ("linear", 12))]}
    if late:
        data["late"] = late
    (folder / "assignment.yaml").write_text(yaml.safe_dump(data))
    return folder / "assignment.yaml"


def solution(mistake: str = "") -> str:
    return SOLUTION.read_text() + ("\n\n" + mistake if mistake else "")


def grade(*args, code: int = 0):
    result = run_cli("grade", *args)
    assert result.exit_code == code, result.output
    return result


def book(outdir: Path) -> dict[str, dict]:
    return {r["student"]: r for r in rows(outdir / "gradebook.csv")}


def namesake_export(path: Path) -> Path:
    """A Gradescope export where two students are called Ana Smith."""
    people = {"submission_1": ("Ana Smith", "ana1@uni.edu", solution(MUL_SWAPPED)),
              "submission_2": ("Ana Smith", "ana2@uni.edu", solution()),
              "submission_3": ("Bo Li", "bo@uni.edu", solution())}
    metadata = {}
    with zipfile.ZipFile(path, "w") as z:
        for key, (name, email, source) in people.items():
            metadata[key] = {":submitters": [{":name": name, ":email": email, ":sid": key[-1]}],
                             ":created_at": "2026-11-20 20:00:00.000000000 Z"}
            z.writestr(f"assignment_1_export/{key}/backprop.py", source)
        z.writestr("assignment_1_export/submission_metadata.yml", yaml.safe_dump(metadata))
    return path


# ---- 1. a student key names one student; corrections stay within the points -------------


def test_a_key_that_names_several_students_is_refused_with_the_candidates(tmp_path):
    export = namesake_export(tmp_path / "export.zip")
    assignment = small_course(tmp_path / "course", {"due": DUE, "per_day": 10,
                                                    "extensions": "extensions.csv"})
    extensions = assignment.parent / "extensions.csv"
    extensions.write_text("student,due\nAna Smith,2026-12-01T00:00:00Z\n")
    out = tmp_path / "out"
    refused = grade(export, "-o", out, "--assignment", assignment, code=2)
    assert f"{extensions}, line 2: 'Ana Smith' matches 2 students" in refused.output
    assert "ana1@uni.edu" in refused.output and "ana2@uni.edu" in refused.output
    assert "Usage:" not in refused.output and not (out / "journal.jsonl").exists()
    extensions.write_text("student,due\nana2@uni.edu,2026-12-01T00:00:00Z\n")
    grade(export, "-o", out, "--assignment", assignment, "--seed", "1")
    only = grade(export, "-o", out, "--assignment", assignment, "--seed", "1", "--only",
                 "ana smith", code=2)
    assert "--only: 'ana smith' matches 2 students" in only.output
    assert "submission_1" in only.output and "submission_2" in only.output

    overrides = out / "overrides.csv"
    overrides.write_text("student,exercise,points,reason\nAna Smith,total,25,regrade\n")
    again = grade(export, "-o", out, "--assignment", assignment, "--seed", "1", code=2)
    assert f"{overrides}, line 2: 'Ana Smith' matches 2 students" in again.output

    overrides.write_text("student,exercise,points,reason\nana1@uni.edu,mul,5,the swap was "
                         "in a comment\n")
    fixed = grade(export, "-o", out, "--assignment", assignment, "--seed", "1")
    assert "0 graded now, 3 already in the journal" in fixed.output
    by_email = {r["email"]: r for r in rows(out / "gradebook.csv")}
    assert by_email["ana1@uni.edu"]["mul"] == "5" and by_email["ana1@uni.edu"]["total"] == "25"
    assert by_email["ana2@uni.edu"]["remarks"] == ""  # untouched by her namesake's rows


@pytest.mark.parametrize("lines, message", [
    ("bo@uni.edu,mul,50,typo", "mul of bo@uni.edu would be 50 points, but must stay "
                               "within 0..5"),
    ("bo@uni.edu,total,120,bonus", "total of bo@uni.edu would be 120 points, but"),
    ("ana1@uni.edu,mul,-3,late fix", "mul of ana1@uni.edu would be -3 points (0 -3), but"),
    ("bo@uni.edu,total,+3,bonus", "total of bo@uni.edu would be 28 points (25 +3), but "
                                  "must stay within 0..25"),
    ("bo@uni.edu,relu,7,a\nBo Li,relu,6,b", "line 3: a second row for relu of Bo Li"),
])
def test_override_points_stay_within_the_points_and_one_row_per_cell(tmp_path, lines,
                                                                       message):
    export = namesake_export(tmp_path / "export.zip")
    out = tmp_path / "out"
    (out).mkdir()
    (out / "overrides.csv").write_text(f"student,exercise,points,reason\n{lines}\n")
    result = grade(export, "-o", out, "--assignment", small_course(tmp_path / "course"),
                   code=2)
    assert f"{out / 'overrides.csv'}, line " in result.output and message in result.output
    assert "Usage:" not in result.output and "Traceback" not in result.output


def test_canvas_ids_and_names_in_extensions_lift_the_late_flag(tmp_path):
    download = canvas_class(tmp_path / "CS101-HW3_submissions.zip", 6)  # 1 and 5: LATE
    assignment = course(tmp_path, {"due": DUE, "per_day": 10, "extensions": "ext.csv"})
    (assignment.parent / "ext.csv").write_text(
        "student,due\n50001,2026-11-25T00:00:00Z\nstudent005,2026-11-25T00:00:00Z\n")
    out = tmp_path / "out"
    grade(download, "-o", out, "--assignment", assignment, "--seed", "1")
    graded = book(out)
    for name in ("student001", "student005"):
        assert graded[name]["late"] == "yes" and graded[name]["late_penalty"] == "0"
        assert "covered by the extension" in graded[name]["remarks"]
    assert "submitted" not in graded["student000"]  # a download carries no time
    assert all(s["submitted"] is None for s in
               json.loads((out / "results.json").read_text())["students"])
    grade(download, "-o", tmp_path / "again", "--assignment", assignment, "--seed", "1")
    assert (out / "gradebook.csv").read_bytes() == (tmp_path / "again" / "gradebook.csv").\
        read_bytes()  # unpacked at another moment, same gradebook


def test_canvas_students_are_named_as_people_write_their_names(tmp_path):
    """Canvas names its downloads "silvaeli_…": extensions, overrides and --only may say
    "Eli Silva", "Silva, Eli" or "Lee Kim" as a TA writes names."""
    download = tmp_path / "HW3_submissions.zip"
    with zipfile.ZipFile(download, "w") as z:
        z.writestr("silvaeli_LATE_5001_9001_backprop.py", solution())
        z.writestr("smithana_LATE_5002_9002_backprop.py", solution())
        z.writestr("kimlee_5003_9003_backprop.py", solution(MUL_SWAPPED))
    assignment = course(tmp_path, {"due": DUE, "per_day": 10, "extensions": "ext.csv"})
    (assignment.parent / "ext.csv").write_text(
        'student,due\nEli Silva,2026-11-25T00:00:00Z\n"Smith, Ana",2026-11-25T00:00:00Z\n')
    out = tmp_path / "out"
    out.mkdir()
    (out / "overrides.csv").write_text("student,exercise,points,reason\nLee Kim,mul,5,regrade\n")
    grade(download, "-o", out, "--assignment", assignment, "--seed", "1")
    graded = book(out)
    for name in ("silvaeli", "smithana"):
        assert graded[name]["late"] == "yes" and graded[name]["late_penalty"] == "0"
    assert graded["kimlee"]["mul"] == "5" and "regrade" in graded["kimlee"]["remarks"]
    again = grade(download, "-o", out, "--assignment", assignment, "--seed", "1",
                  "--only", "eli silva", "--force")
    assert "1 graded now" in again.output


# ---- 2. a class joined to the LMS's own roster -------------------------------------------


CANVAS_EXPORT = """Student,ID,SIS User ID,SIS Login ID,Section,Homework 3 (123456),Final Score
    Points Possible,,,,,25,(read only)
"Smith, Ana",101,S1,asmith,Sec 1,,
"Doe, John",102,S2,jdoe,Sec 1,,
"Kim, Lee",103,S3,kim@uni.edu,Sec 2,,
"Absent, Al",104,S4,aal,Sec 2,,
"""


def test_a_plain_folder_reaches_canvas_through_its_gradebook_export(tmp_path):
    cls = tmp_path / "class"
    cls.mkdir()
    for name in ("ana_smith", "jdoe", "kim@uni.edu", "zed"):
        (cls / f"{name}.py").write_text(solution(MUL_SWAPPED if name == "jdoe" else ""))
    out = tmp_path / "out"
    grade(cls, "-o", out, "--assignment", small_course(tmp_path / "course"))
    graded = book(out)
    alone = run_cli("export", out, "--to", "canvas", "-o", tmp_path / "none.csv")
    assert alone.exit_code == 1 and "--roster" in alone.stderr

    roster = tmp_path / "gradebook-export.csv"
    roster.write_text(CANVAS_EXPORT)
    upload = tmp_path / "canvas.csv"
    joined = run_cli("export", out, "--to", "canvas", "-o", upload, "--roster", roster,
                     "--column", "Homework 3 (123456)")
    assert joined.exit_code == 1, joined.output  # zed is graded but not in the roster
    assert "left out: zed (zed.py): not in the roster" in joined.stderr
    assert "roster line 6 (Absent, Al)" in joined.stderr
    made = {r["ID"]: r for r in rows(upload)}
    assert sorted(made) == ["101", "102", "103"]
    assert made["101"]["Student"] == "Smith, Ana" and made["101"]["SIS Login ID"] == "asmith"
    for canvas_id, name in (("101", "ana_smith"), ("102", "jdoe"), ("103", "kim@uni.edu")):
        assert made[canvas_id]["Homework 3 (123456)"] == graded[name]["total"]
    assert made["102"]["Homework 3 (123456)"] != made["101"]["Homework 3 (123456)"]

    plain = tmp_path / "roster.csv"
    plain.write_text("name,email,login\nAna Smith,ana@uni.edu,asmith\nJohn Doe,jd@uni.edu,"
                     "jdoe\nLee Kim,kim@uni.edu,lkim\nzed,zed@uni.edu,\n")
    scores = tmp_path / "gradescope.csv"
    everyone = run_cli("export", out, "--to", "gradescope", "-o", scores, "--roster", plain)
    assert everyone.exit_code == 0, everyone.output
    assert {r["Email"]: r["Total Score"] for r in rows(scores)} == {
        "ana@uni.edu": graded["ana_smith"]["total"], "jd@uni.edu": graded["jdoe"]["total"],
        "kim@uni.edu": graded["kim@uni.edu"]["total"], "zed@uni.edu": graded["zed"]["total"]}
    made = scores.read_bytes()
    plain.write_bytes(plain.read_text().replace(",", "\t").encode("utf-16"))  # "Unicode text"
    again = run_cli("export", out, "--to", "gradescope", "-o", scores, "--roster", plain)
    assert again.exit_code == 0 and scores.read_bytes() == made, again.output


def test_a_roster_row_that_matches_two_students_is_listed_not_guessed(tmp_path):
    out = tmp_path / "out"
    grade(namesake_export(tmp_path / "export.zip"), "-o", out, "--assignment",
          small_course(tmp_path / "course"))
    roster = tmp_path / "roster.csv"
    roster.write_text("Name,Email\nAna Smith,\nBo Li,bo@uni.edu\n")
    result = run_cli("export", out, "--to", "gradescope", "-o", tmp_path / "gs.csv",
                     "--roster", roster)
    assert result.exit_code == 1
    assert "left out: Ana Smith (submission_1): not in the roster" in result.stderr
    assert [r["Email"] for r in rows(tmp_path / "gs.csv")] == ["bo@uni.edu"]


# ---- 4. numbers that say what the grade is ----------------------------------------------


def test_summary_terminal_and_feedback_report_final_scores_and_what_to_look_at(tmp_path):
    due = time.mktime(time.strptime("2026-11-20", "%Y-%m-%d"))
    cls = tmp_path / "class"
    cls.mkdir()
    for name, source, when in (("ontime", solution(), due - 86400),
                               ("late", solution(), due + 3.5 * 86400),
                               ("stub", "def mul_backward(dout, x, y):\n    pass\n",
                                due - 86400)):
        (cls / f"{name}.py").write_text(source)
        os.utime(cls / f"{name}.py", (when, when))
    ran = cls / "ran_it"  # on time; running it later wrote __pycache__
    (ran / "__pycache__").mkdir(parents=True)
    (ran / "backprop.py").write_text(solution())
    (ran / "__pycache__" / "backprop.cpython-311.pyc").write_bytes(b"\0")
    os.utime(ran / "backprop.py", (due - 86400, due - 86400))
    os.utime(ran / "__pycache__" / "backprop.cpython-311.pyc", (due + 9e5, due + 9e5))
    (cls / "empty").mkdir()
    (cls / "empty" / "notes.txt").write_text("I ran out of time")
    os.utime(cls / "empty" / "notes.txt", (due - 86400, due - 86400))
    assignment = small_course(tmp_path / "course", {"due": DUE, "per_day": 20,
                                                    "use_file_times": True})
    out = tmp_path / "out"
    out.mkdir()
    (out / "overrides.csv").write_text("student,exercise,points,reason\n"
                                       "ontime,mul,1,copied from a classmate\n")
    result = grade(cls, "-o", out, "--assignment", assignment)
    graded = book(out)
    assert graded["late"]["late_penalty"] == "15" and graded["ran_it"]["late_penalty"] == "0"
    lines = ["final scores: mean 11.2, median 10, min 0, max 25; 1 with full marks (raw, "
             "before late penalties and corrections of the total: mean 14.2, median 21",
             "late: 1 submission(s), 15 points of late penalties in total; 0 extension(s) "
             "applied", "empty (nothing gradable handed in): 1: empty", "0 points: 1: stub"]
    summary = (out / "summary.md").read_text()
    for line in lines:
        assert line in result.output and line in summary, line
    assert "to look at (named in summary.md): 1 could not be read" in result.output
    feedback = next((out / "feedback").glob("ontime__*.md")).read_text()
    assert "| 1/5 | passed, adjusted by staff |" in feedback and "**21 / 25**" in feedback


# ---- 5. operations ------------------------------------------------------------------------


def test_one_grade_at_a_time_per_output_folder(tmp_path):
    fcntl = pytest.importorskip("fcntl")
    cls = folder_class(tmp_path / "class", 2)
    out = tmp_path / "out"
    out.mkdir()
    with open(out / ".grading.lock", "a+") as held:
        held.write("`backprop grade` (pid 4242, started today)")
        held.flush()
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        busy = grade(cls, "-o", out, "--assignment", small_course(tmp_path / "c"), code=2)
    assert f"{out} is being graded into by `backprop grade` (pid 4242" in busy.output
    assert "Usage:" not in busy.output and not (out / "journal.jsonl").exists()
    grade(cls, "-o", out, "--assignment", small_course(tmp_path / "c"))  # free again


@pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")
def test_the_output_folder_is_the_tas_alone_unless_asked(tmp_path):
    cls = folder_class(tmp_path / "class", 2)
    assignment = small_course(tmp_path / "course")
    for out, flags, modes in ((tmp_path / "private", (), (0o700, 0o600)),
                              (tmp_path / "group", ("--group-readable",), (0o750, 0o640))):
        grade(cls, "-o", out, "--assignment", assignment, *flags)
        folders = [out, out / "feedback", out / "logs"]
        files = [p for p in out.rglob("*") if p.is_file() and p.name != ".grading-secret"]
        assert {stat.S_IMODE(p.stat().st_mode) for p in folders} == {modes[0]}
        assert {stat.S_IMODE(p.stat().st_mode) for p in files} == {modes[1]}
        assert stat.S_IMODE((out / ".grading-secret").stat().st_mode) == 0o600
        assert {"gradebook.csv", "journal.jsonl", "summary.md"} <= {p.name for p in files}


def test_late_policy_changes_and_releases_rewrite_the_outputs_without_grading(tmp_path):
    cls = tmp_path / "class"
    cls.mkdir()
    (cls / "ann.py").write_text(solution(MUL_SWAPPED))
    (cls / "ben.py").write_text(solution())
    late = time.mktime(time.strptime("2026-11-23", "%Y-%m-%d"))
    os.utime(cls / "ann.py", (late, late))
    assignment = small_course(tmp_path / "course", {"due": DUE, "per_day": 10,
                                                    "use_file_times": True},
                              mul="after_due_date", relu="hidden")
    out = tmp_path / "out"
    grade(cls, "-o", out, "--assignment", assignment)
    assert float(book(out)["ann"]["late_penalty"]) > 0
    before = next((out / "feedback").glob("ann__*.md")).read_text()
    assert "`mul`" not in before and "`relu`" not in before and "`linear`" in before
    assert "exercises not shown yet count toward the grade too" in before

    data = yaml.safe_load(assignment.read_text())
    data["late"]["due"] = "2100-01-01T00:00:00Z"  # only the late policy changes
    assignment.write_text(yaml.safe_dump(data))
    again = grade(cls, "-o", out, "--assignment", assignment, "--release", "after_due_date")
    assert "0 graded now, 2 already in the journal" in again.output
    assert book(out)["ann"]["late_penalty"] == "0"
    released = next((out / "feedback").glob("ann__*.md")).read_text()
    assert "`mul`" in released and "swap" in released and "`relu`" not in released
    staff = next((out / "feedback-staff").glob("ann__*.md")).read_text()
    assert "`relu`" in staff  # the hidden exercise: staff only, released or not

    data["late"] = {"due": DUE, "per_day": 10}  # a plain folder, and its files' times unused
    assignment.write_text(yaml.safe_dump(data))
    untimed = grade(cls, "-o", out, "--assignment", assignment)
    assert "late: not checked: a plain folder holds no submission times" in untimed.output
    assert book(out)["ann"]["late_penalty"] == "0"
    # A later run without --release does not take the release back from the students.
    assert "feedback still shows the after_due_date exercises" in untimed.output
    assert next((out / "feedback").glob("ann__*.md")).read_text() == released


def test_sigterm_stops_like_ctrl_c_quietly_and_resumably(tmp_path):
    cls = folder_class(tmp_path / "class", 40)
    out = tmp_path / "out"
    proc = _batch(cls, out, course(tmp_path))
    _wait_for_journal(out, 2)
    proc.send_signal(signal.SIGTERM)  # the batch only, as `kill PID` or a supervisor does
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 128 + signal.SIGTERM, err
    done = (out / "journal.jsonl").read_text().count("\n")
    assert f"interrupted after grading {done} of 40" in err
    assert "run the same command again" in err
    assert "Traceback" not in err and "leaked" not in err, err
    resumed = grade(cls, "-o", out, "--assignment", course(tmp_path / "again"))
    assert f"{40 - done} graded now, {done} already in the journal" in resumed.output


# ---- 6. validation, messages and docs -----------------------------------------------------


@pytest.mark.parametrize("late, extensions, message", [
    ("due: 2024-13-40", None, "line 2, column 8: '2024-13-40' is not a date (month must be"),
    ("due: 2024-12-01T10:00:00Z\n  extensions: ext.csv", None,
     "ext.csv: cannot be read"),
    ("due: 2024-12-01T10:00:00Z\n  extensions: ext.csv", "student,due\nann,2024-02-30\n",
     "ext.csv, line 2, column due: '2024-02-30' is not a date and time"),
    ("due: 2024-12-01T10:00:00Z\n  extensions: ext.csv",
     "student,due\nann,2024-11-30T10:00:00Z\n", "ext.csv, line 2: 2024-11-30T10:00:00Z is "
     "not after the due date (2024-12-01T10:00:00+00:00)"),
    ("due: 2024-12-01T10:00:00Z\n  extensions: ext.csv",
     "student,due\nAnn,2024-12-03T10:00:00Z\nann,2024-12-04T10:00:00Z\n",
     "ext.csv, line 3: a second extension for 'ann' (the first: line 2)"),
    ("due: 2024-12-01 10:00:00", None,  # YAML reads a datetime: shown as written
     "'2024-12-01T10:00:00' is not a date and time with a time zone"),
    ("due: 2024-12-01T10:00:00Z\n  extensions: ext.csv",  # saved by Excel as Latin-1
     "student,due\nJosé,2024-12-02T10:00:00Z\n".encode("latin-1"),
     "ext.csv, line 2: not UTF-8 text (byte 0xe9); save it as CSV UTF-8"),
])
def test_validate_and_grade_check_dates_and_files_without_a_traceback(tmp_path, late,
                                                                       extensions, message):
    course_dir = tmp_path / "course"
    course_dir.mkdir()
    (course_dir / "assignment.yaml").write_text(
        f"late:\n  {late}\ntitle: HW\nexercises:\n  - {{id: mul, points: 5}}\n")
    if extensions:
        (course_dir / "ext.csv").write_bytes(
            extensions if isinstance(extensions, bytes) else extensions.encode())
    checked = run_cli("validate", course_dir / "assignment.yaml")
    assert checked.exit_code == 2 and message in checked.output, checked.output
    cls = folder_class(tmp_path / "class", 1)
    graded = run_cli("grade", cls, "-o", tmp_path / "out", "--assignment",
                     course_dir / "assignment.yaml")
    assert graded.exit_code == 2 and message in graded.output, graded.output
    assert "Traceback" not in checked.output + graded.output


@pytest.mark.linux
def test_an_oversized_upload_is_named_for_what_it_is(tmp_path):
    (tmp_path / "source").mkdir()
    (tmp_path / "source" / "grading.json").write_text('{"secret": "s"}')
    (tmp_path / "submission").mkdir()
    with zipfile.ZipFile(tmp_path / "submission" / "hw.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("backprop.py", SOLUTION.read_text() + "#\n" * (11 << 20))
    result = run_cli("gradescope", "run", "--root", tmp_path)
    assert result.exit_code == 0, result.output
    output = json.loads((tmp_path / "results" / "results.json").read_text())["output"]
    assert "backprop.py is larger than 20 MiB" in output and "expected" not in output


def _commands(group, path=()):
    import click

    for name, command in group.commands.items():
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))


def test_every_doc_a_help_text_names_exists_and_docs_cite_no_private_path():
    import re

    from grader.cli import main

    named = {doc for path, _ in _commands(main) for doc in re.findall(
        r"docs/[\w.-]+\.md", run_cli(*path, "--help").output)}
    assert named and all((ROOT / doc).is_file() for doc in named), named
    for doc in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        assert not re.search(r"\.\./|/work/|shared/", doc.read_text()), doc


def test_an_assignment_picks_built_in_exercises_by_id(tmp_path):
    assignment = small_course(tmp_path / "course")
    assert sorted(p.name for p in assignment.parent.iterdir()) == ["assignment.yaml"]
    checked = run_cli("validate", assignment)
    assert checked.exit_code == 0 and "3 exercises, 25 points" in checked.output
    result = run_cli("check", SOLUTION, "--assignment", assignment, "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["score"] == 25
    built = run_cli("gradescope", "build", "-o", tmp_path / "ag.zip", "--assignment",
                    assignment)
    assert built.exit_code == 0, built.output
    with zipfile.ZipFile(tmp_path / "ag.zip") as z:
        wheel = next(n for n in z.namelist() if n.endswith(".whl"))
        z.extract(wheel, tmp_path)
    with zipfile.ZipFile(tmp_path / wheel) as w:
        shipped = {Path(n).name for n in w.namelist() if "_data/exercises/" in n}
    # the three it picks, and the lecture pack's description (its ops: the reference)
    assert shipped == {"assignment.yaml", "mul.yaml", "relu.yaml", "linear.yaml", "pack.yaml"}
    typo = assignment.read_text().replace("id: relu", "id: rleu")
    assignment.write_text(typo)
    wrong = run_cli("validate", assignment)
    assert wrong.exit_code == 2 and "no built-in exercise of that id: add," in wrong.output


@pytest.mark.linux
def test_the_gradescope_zip_runs_locally_as_docs_platforms_says(tmp_path):
    """docs/platforms.md: BACKPROP_ROOT and BACKPROP_VENV run the zip's own setup.sh and
    run_autograder in any folder, /autograder left alone."""
    ag = tmp_path / "ag"
    built = run_cli("gradescope", "build", "-o", tmp_path / "autograder.zip",
                    "--assignment", small_course(tmp_path / "course"))
    assert built.exit_code == 0, built.output
    with zipfile.ZipFile(tmp_path / "autograder.zip") as z:
        z.extractall(ag / "source")
    (ag / "submission").mkdir()
    (ag / "submission" / "backprop.py").write_text(SOLUTION.read_text())
    env = {**os.environ, "BACKPROP_ROOT": str(ag), "BACKPROP_VENV": str(ag / "venv"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for script in ("setup.sh", "run_autograder"):
        done = subprocess.run(["bash", str(ag / "source" / script)], env=env, cwd=tmp_path,
                              capture_output=True, text=True)
        assert done.returncode == 0, (script, done.stderr)
    assert json.loads((ag / "results" / "results.json").read_text())["score"] == 25
    docs = (ROOT / "docs" / "platforms.md").read_text()
    assert "BACKPROP_ROOT" in docs and "BACKPROP_VENV" in docs


def test_links_in_a_class_folder_are_listed_never_followed(tmp_path):
    """A link among a class's entries (to a file outside, or to nothing) is not graded,
    and the TA is told of it rather than left to wonder where a student went."""
    cls = folder_class(tmp_path / "class", 1)
    outside = tmp_path / "outside.py"
    outside.write_text(solution())
    (cls / "bob.py").symlink_to(outside)
    (cls / "gone.py").symlink_to(tmp_path / "nothing.py")
    out = tmp_path / "out"
    result = grade(cls, "-o", out, "--assignment", small_course(tmp_path / "course"))
    for name in ("bob.py", "gone.py"):
        assert f"{name} (a link: links are not followed)" in result.output
        assert f"{name} (a link" in (out / "summary.md").read_text()
    assert list(book(out)) == ["student000"]


def test_an_empty_py_counts_as_empty_as_an_empty_notebook_does(tmp_path):
    cls = folder_class(tmp_path / "class", 1)
    (cls / "blank.py").write_text("")
    (cls / "comments.py").write_text("# TODO: start the homework\n\n")
    (cls / "none.ipynb").write_text("")
    out = tmp_path / "out"
    result = grade(cls, "-o", out, "--assignment", small_course(tmp_path / "course"))
    assert "empty (nothing gradable handed in): 3: blank, comments, none" in result.output
    assert "blank.py is empty: it holds no code" in book(out)["blank"]["remarks"]


def test_a_staff_file_named_but_missing_is_said_without_usage_text(tmp_path):
    cls = folder_class(tmp_path / "class", 1)
    out = tmp_path / "out"
    missing = tmp_path / "overrides.csv"
    graded = grade(cls, "-o", out, "--assignment", small_course(tmp_path / "course"),
                   "--overrides", missing, code=2)
    assert f"{missing}: no such file" in graded.output and not out.exists()
    grade(cls, "-o", out, "--assignment", small_course(tmp_path / "course"))
    exported = run_cli("export", out, "--to", "canvas", "-o", tmp_path / "c.csv", "--roster",
                       tmp_path / "roster.csv")
    assert exported.exit_code == 2 and "roster.csv: cannot be read" in exported.output
    assert "Usage:" not in graded.output + exported.output


def test_odd_text_in_names_prints_and_errors_never_stops_the_class(tmp_path):
    """A file name that is not UTF-8 (a zip made on Windows) and half-characters in what a
    student prints or raises: each used to stop the whole batch, at every rerun."""
    cls = folder_class(tmp_path / "class", 1)
    (cls / os.fsdecode(b"caf\xe9.py")).write_text(solution())
    (cls / "eve.py").write_text((SUBMISSIONS / "hostile" / "lone_surrogates.py").read_text()
                                .join([solution(), ""]))
    out = tmp_path / "out"
    assignment = course(tmp_path)  # all the lecture's exercises: `add` among them
    result = grade(cls, "-o", out, "--assignment", assignment)
    graded = book(out)
    assert graded["caf\\xe9"]["total"] == "100" and graded["eve"]["total"] == "95", graded
    feedback = next((out / "feedback").glob("eve__*.md")).read_text()
    assert "oops ?" in feedback and "half a character: ?" in (out / "logs" / "eve.py.log") \
        .read_text()
    table = run_cli("check", cls / "eve.py", "--assignment", assignment)
    assert table.exit_code == 1 and "oops ?" in table.output, table.output
    assert "Traceback" not in result.output + table.output
