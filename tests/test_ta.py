"""A TA's term: a class in three layouts in, an upload-ready gradebook out — late policy,
overrides, one student regraded, the audit trail, discovery that cannot be fooled, and a
batch that leaves nothing behind however it ends. Everything through the real CLI."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, SOLUTION, SUBMISSIONS, run_cli

BAD = sorted((SUBMISSIONS / "bad").glob("*.py"))
DUE = "2026-11-20T23:59:00+00:00"


def body(i: int) -> str:
    """Student i: correct every third time, else one classic mistake."""
    return SOLUTION.read_text() + ("" if i % 3 == 0 else "\n\n" + BAD[i % len(BAD)].read_text())


def hostile(name: str) -> str:
    return SOLUTION.read_text() + "\n\n" + (SUBMISSIONS / "hostile" / f"{name}.py").read_text()


def course(tmp_path: Path, late: dict | None = None, **limits) -> Path:
    """The bundled course with quick limits and, optionally, a late policy."""
    folder = tmp_path / "course"
    shutil.copytree(ROOT / "exercises", folder)
    data = yaml.safe_load((folder / "assignment.yaml").read_text())
    data["limits"] = {"exercise_seconds": 2, "total_seconds": 30, **limits}
    if late:
        data["late"] = late
    (folder / "assignment.yaml").write_text(yaml.safe_dump(data))
    return folder / "assignment.yaml"


def gradescope_class(path: Path, students: int) -> Path:
    """An "Export Submissions" zip: every fifth submission is a pair, every fourth late
    (submitted 1.5 days after the due date)."""
    metadata = {}
    with zipfile.ZipFile(path, "w") as z:
        for i in range(students):
            people = [{":name": f"Student {i:03d}", ":sid": f"{6000000 + i}",
                       ":email": f"s{i:03d}@uni.edu"}]
            if i % 5 == 4:
                people.append({":name": f"Partner {i:03d}", ":sid": f"{7000000 + i}",
                               ":email": f"p{i:03d}@uni.edu"})
            created = "2026-11-22 11:59:00.000000000 Z" if i % 4 == 1 else \
                "2026-11-20 20:00:00.000000000 Z"
            metadata[f"submission_{1000 + i}"] = {":submitters": people,
                                                  ":created_at": created}
            z.writestr(f"assignment_77_export/submission_{1000 + i}/backprop.py", body(i))
        z.writestr("assignment_77_export/submission_metadata.yml", yaml.safe_dump(metadata))
    return path


def canvas_class(path: Path, students: int) -> Path:
    """A "Download Submissions" zip: every fourth student is marked LATE."""
    with zipfile.ZipFile(path, "w") as z:
        for i in range(students):
            late = "LATE_" if i % 4 == 1 else ""
            z.writestr(f"student{i:03d}_{late}{50000 + i}_{90000 + i}_backprop.py", body(i))
    return path


def folder_class(path: Path, students: int) -> Path:
    path.mkdir()
    for i in range(students):
        (path / f"student{i:03d}.py").write_text(body(i))
    return path


def grade(*args, code: int = 0):
    result = run_cli("grade", *args)
    assert result.exit_code == code, result.output
    return result


def rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


# ---- exports, late policy, overrides ----------------------------------------------------


def test_a_gradescope_class_goes_back_with_late_penalties_and_groups(tmp_path):
    students = 60
    assignment = course(tmp_path, {"due": DUE, "per_day": 10, "max_penalty": 15,
                                   "extensions": "extensions.csv"})
    (assignment.parent / "extensions.csv").write_text(
        "student,due\ns005@uni.edu,2026-11-25T00:00:00Z\n")  # s005 is late but excused
    out = tmp_path / "out"
    grade(gradescope_class(tmp_path / "export.zip", students), "-o", out,
          "--assignment", assignment)
    book = {r["student"]: r for r in rows(out / "gradebook.csv")}
    assert len(book) == students
    for name, row in book.items():
        i = int(name.split()[1])
        raw, penalty, total = (float(row[c]) for c in ("raw", "late_penalty", "total"))
        assert total == pytest.approx(raw - penalty, abs=1e-3)
        late = i % 4 == 1 and i != 5
        # 1.5 days late: 2 days counted, 20%, capped at 15% of the raw score.
        assert penalty == pytest.approx(0.15 * raw if late else 0.0, abs=1e-3), name
        assert ("day(s) late" in row["remarks"]) == late
    result = run_cli("export", out, "--to", "gradescope", "-o", tmp_path / "gs.csv")
    assert result.exit_code == 0, result.output
    upload = rows(tmp_path / "gs.csv")
    assert list(upload[0]) == ["Name", "SID", "Email", "Total Score"]
    assert len(upload) == students + students // 5  # each partner gets a row
    by_email = {r["Email"]: r for r in upload}
    pair = next(n for n in book if n.startswith("Student 004"))
    assert by_email["s004@uni.edu"]["Total Score"] == by_email["p004@uni.edu"]["Total Score"] \
        == book[pair]["total"]


def test_a_canvas_class_exports_for_canvas_with_its_late_flags(tmp_path):
    assignment = course(tmp_path, {"due": DUE, "per_day": 10})
    out = tmp_path / "out"
    grade(canvas_class(tmp_path / "CS101-HW3_submissions.zip", 40), "-o", out,
          "--assignment", assignment)
    book = {r["student"]: r for r in rows(out / "gradebook.csv")}
    assert len(book) == 40
    late = book["student001"]
    assert late["late"] == "yes" and "Canvas marks it late but gives no time" in late["remarks"]
    assert float(late["late_penalty"]) == pytest.approx(0.1 * float(late["raw"]))
    assert float(book["student000"]["late_penalty"]) == 0
    result = run_cli("export", out, "--to", "canvas", "-o", tmp_path / "canvas.csv",
                     "--column", "Homework 3 (123456)")
    assert result.exit_code == 0, result.output
    upload = rows(tmp_path / "canvas.csv")
    assert list(upload[0]) == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                               "Homework 3 (123456)"]
    assert {r["ID"] for r in upload} == {str(50000 + i) for i in range(40)}
    assert next(r for r in upload if r["ID"] == "50001")["Homework 3 (123456)"] == \
        late["total"]


def test_a_plain_folder_uses_file_times_only_when_told(tmp_path):
    cls = folder_class(tmp_path / "class", 6)
    late_time = time.mktime(time.strptime("2026-11-23", "%Y-%m-%d"))
    os.utime(cls / "student000.py", (late_time, late_time))
    out = tmp_path / "out"
    grade(cls, "-o", out, "--assignment", course(tmp_path, {"due": DUE, "per_day": 50}))
    assert all(float(r["late_penalty"]) == 0 for r in rows(out / "gradebook.csv"))
    strict = course(tmp_path / "strict", {"due": DUE, "per_day": 50, "use_file_times": True})
    grade(cls, "-o", tmp_path / "out2", "--assignment", strict)
    book = {r["student"]: r for r in rows(tmp_path / "out2" / "gradebook.csv")}
    assert float(book["student000"]["total"]) == 0  # 3 days, 150% capped at 100%
    assert float(book["student003"]["late_penalty"]) > 0  # copied just now: late too


def test_overrides_are_applied_shown_and_checked(tmp_path):
    cls = folder_class(tmp_path / "class", 5)
    out = tmp_path / "out"
    assignment = course(tmp_path)
    grade(cls, "-o", out, "--assignment", assignment, "--seed", "1")
    (out / "overrides.csv").write_text(
        "student,exercise,points,reason\n"
        "student001,relu,8,the mask was right; the grader's case was at a tie\n"
        "student002.py,total,+3,regrade request: handwritten derivation\n")
    again = grade(cls, "-o", out, "--assignment", assignment, "--seed", "1")
    assert "0 graded now, 5 already" in again.output  # overrides need no regrading
    book = {r["student"]: r for r in rows(out / "gradebook.csv")}
    assert book["student001"]["relu"] == "8" and "set to 8" in book["student001"]["remarks"]
    two = book["student002"]
    assert float(two["total"]) == pytest.approx(float(two["raw"]) + 3)
    feedback = next((out / "feedback").glob("student002__*.md")).read_text()
    assert "Final grade" in feedback and "handwritten derivation" in feedback
    (out / "overrides.csv").write_text("student,exercise,points,reason\n"
                                       "studnet001,relu,8,a typo in the name\n")
    typo = grade(cls, "-o", out, "--assignment", assignment, "--seed", "1")
    assert "warning: no student matches overrides: 'studnet001'" in typo.stderr
    assert "## Corrections that match no student" in (out / "summary.md").read_text()
    (out / "overrides.csv").write_text("student,exercise,points,reason\nstudent001,relu,x,y\n")
    bad = grade(cls, "-o", out, "--assignment", assignment, "--seed", "1", code=2)
    assert "overrides.csv, line 2: points 'x' is not a number" in bad.output


def test_one_student_is_regraded_in_place(tmp_path):
    cls = folder_class(tmp_path / "class", 8)
    out = tmp_path / "out"
    assignment = course(tmp_path)
    grade(cls, "-o", out, "--assignment", assignment)
    before = (out / "journal.jsonl").read_text().splitlines()
    (cls / "student004.py").write_text(SOLUTION.read_text())  # a late fix, accepted
    result = grade(cls, "-o", out, "--assignment", assignment, "--only", "student004")
    assert "1 graded now, 7 already in the journal" in result.output
    book = {r["student"]: r for r in rows(out / "gradebook.csv")}
    assert len(book) == 8 and float(book["student004"]["total"]) == 100
    after = (out / "journal.jsonl").read_text().splitlines()
    assert after[:len(before)] == before and len(after) == len(before) + 1
    unknown = grade(cls, "-o", out, "--assignment", assignment, "--only", "nobody", code=2)
    assert "no student matches 'nobody'" in unknown.output


# ---- the audit trail -------------------------------------------------------------------


# name -> the words of its line under "Submissions to look at" (any one of them: a fork
# bomb is seen forking, or stopped at its process or memory limit, whichever comes first)
AUDITED = {"kills_the_grader": ("tried to signal processes other than their own",),
           "reads_grader_files": ("touched files outside their work folder",),
           "fork_attempt": ("started processes", "too many processes", "too much memory"),
           "setsid_daemon": ("started processes",),
           "memory_hog": ("stopped for using too much memory",),
           "stdout_flood": ("printed more than the grader keeps",),
           "network": ("tried to use the network",), "loop_forever": ("timed out",),
           "segfault": ("crashed or exited early",),
           "prints_fake_results": ("tried to tamper with the grading",)}


GOOD = 8  # correct students beside the misbehaving ones: none of them is looked at


def test_every_misbehaviour_is_named_and_logged(tmp_path):
    cls = tmp_path / "class"
    cls.mkdir()
    for i in range(GOOD):
        (cls / f"good{i:02d}.py").write_text(body(3 * i))
    for name in AUDITED:
        (cls / f"{name}.py").write_text(hostile(name))
    out = tmp_path / "out"
    result = run_cli("grade", cls, "-o", out, "--assignment", course(tmp_path))
    assert result.exit_code == 0, result.output
    summary = (out / "summary.md").read_text()
    looked_at = summary[summary.index("## Submissions to look at"):]
    for name, labels in AUDITED.items():
        assert any(label in line and name in line for line in looked_at.splitlines()
                   for label in labels), (name, looked_at)
    assert not any(f"good{i:02d}" in looked_at for i in range(GOOD))
    mistakes = summary[summary.index("## Most common mistakes"):]
    assert "defines no" not in mistakes and "not implemented" not in mistakes
    flood = (out / "logs" / "stdout_flood.py.log").read_text()
    assert "graded in" in flood and "more characters" in flood
    log = (out / "grading.log").read_text()
    assert "start:" in log and log.count("/100 in ") == GOOD + len(AUDITED)
    everyone = GOOD + len(AUDITED)
    assert f"graded {everyone}/{everyone}" in result.stderr  # progress lines off a terminal


# ---- discovery -------------------------------------------------------------------------


def test_discovery_cannot_be_fooled_by_what_students_hand_in(tmp_path):
    cls = tmp_path / "class"
    (cls / "mallory").mkdir(parents=True)
    (cls / "mallory" / "backprop.py").write_text(body(1))
    (cls / "mallory" / "submission_metadata.yml").write_text(yaml.safe_dump(
        {"../alice": {":submitters": [{":name": "Alice"}]}}))  # not an export: a student
    (cls / "alice.py").write_text(SOLUTION.read_text())
    (cls / "bob.py").write_text(body(2))
    (cls / "bob.ipynb").write_text(_notebook(SOLUTION.read_text()))
    (cls / "bob").mkdir()
    (cls / "bob" / "notes.md").write_text("my notes")
    (cls / "x y.py").write_text(body(4))
    (cls / "x_y.py").write_text(body(0))
    (cls / "grading_notes.txt").write_text("TA notes")
    out = tmp_path / "out"
    result = grade(cls, "-o", out, "--assignment", course(tmp_path))
    assert "(folder layout)" in result.output
    assert "not submissions, not graded: grading_notes.txt" in result.output
    book = {r["student"]: r for r in rows(out / "gradebook.csv")}
    assert sorted(book) == ["alice", "bob", "mallory", "x y", "x_y"]
    assert float(book["alice"]["total"]) == 100 and float(book["mallory"]["total"]) < 100
    assert float(book["bob"]["total"]) == 100  # the notebook implements the most
    assert "3 entries for one student" in book["bob"]["remarks"]
    names = sorted(p.name for p in (out / "feedback").glob("*.md"))
    assert len(names) == len(set(names)) == 5


def test_an_export_keys_only_its_own_folders(tmp_path):
    export = tmp_path / "assignment_9_export"
    (export / "submission_1").mkdir(parents=True)
    (export / "submission_1" / "backprop.py").write_text(SOLUTION.read_text())
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "backprop.py").write_text(SOLUTION.read_text())
    (export / "submission_metadata.yml").write_text(yaml.safe_dump({
        "submission_1": {":submitters": [{":name": "Ann", ":email": "ann@uni.edu"}]},
        "../outside": {":submitters": [{":name": "Eve", ":email": "eve@uni.edu"}]}}))
    (export / "stray.txt").write_text("?")
    out = tmp_path / "out"
    grade(tmp_path / "assignment_9_export", "-o", out, "--assignment", course(tmp_path))
    book = {r["student"]: r for r in rows(out / "gradebook.csv")}
    assert float(book["Ann"]["total"]) == 100
    assert float(book["Eve"]["total"]) == 0 and "not a folder name of this export" in \
        book["Eve"]["remarks"]
    assert "- stray.txt" in (out / "summary.md").read_text()


def _notebook(source: str) -> str:
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    return nbformat.writes(new_notebook(cells=[new_code_cell(source)]))


# ---- nothing left behind ---------------------------------------------------------------


def _descendants(root: int) -> set[int]:
    from grader.sandbox.child import processes

    return set(processes.descendants({root})) - {root}


def _cmdline(pid: int) -> bytes:
    """A process's command line; empty for one that ended since it was listed (sandboxed
    children come and go by the dozen a second)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _alive(pids: set[int]) -> set[int]:
    from grader.sandbox.child import processes

    return {p for p in pids if p in set(processes.descendants({p}))}


def _gone(pids: set[int], seconds: float = 120.0) -> set[int]:
    """Those of `pids` still alive after waiting up to `seconds` for them to end (a hang
    guard: they end within a second, but a loaded machine may take its time)."""
    deadline = time.monotonic() + seconds
    while _alive(pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return _alive(pids)


def _batch(cls: Path, out: Path, assignment: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "grader", "grade", str(cls), "-o", str(out), "-j", "2",
         "--assignment", str(assignment)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_for_journal(out: Path, lines: int) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        journal = out / "journal.jsonl"
        if journal.exists() and journal.read_text().count("\n") >= lines:
            return
        time.sleep(0.02)
    raise AssertionError("the batch graded nothing")


@pytest.mark.linux
def test_sigkill_takes_every_process_and_temp_folder_with_it(tmp_path):
    cls = folder_class(tmp_path / "class", 30)
    (cls / "zz_daemon.py").write_text(hostile("setsid_daemon"))
    scratch_before = set(Path(os.environ.get("TMPDIR", "/tmp")).glob("backprop-batch-*"))
    proc = _batch(cls, tmp_path / "out", course(tmp_path))
    _wait_for_journal(tmp_path / "out", 3)
    family = _descendants(proc.pid)
    assert family, "no workers seen"
    proc.kill()
    proc.wait()
    assert not _gone(family)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and \
            set(Path(os.environ.get("TMPDIR", "/tmp")).glob("backprop-batch-*")) - scratch_before:
        time.sleep(0.05)
    assert not set(Path(os.environ.get("TMPDIR", "/tmp")).glob("backprop-batch-*")) - \
        scratch_before


HANGS_AT_IMPORT = "\n\nimport time\ntime.sleep(10**6)  # a training loop left at the top\n"


def test_ctrl_c_stops_keeps_what_finished_and_says_how_to_resume(tmp_path):
    """Ctrl-C stops the batch without waiting for the students being graded. After the
    first three, every student hangs at import for as long as this course allows (ten
    minutes): a batch that waited for its running students would journal more than the
    three, and would not end before the hang guard. Nothing here depends on speed."""
    cls = folder_class(tmp_path / "class", 40)
    quick = 3
    hanging = sorted(cls.glob("*.py"))[quick:]
    for path in hanging:
        path.write_text(path.read_text() + HANGS_AT_IMPORT)
    out = tmp_path / "out"
    patient = {"import_seconds": 600, "total_seconds": 600}
    proc = _batch(cls, out, course(tmp_path, **patient))
    try:
        _wait_for_journal(out, quick)  # the quick ones: then both workers are on hanging ones
        family = _descendants(proc.pid)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=300)  # a hang guard only
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    assert "run the same command again" in err
    assert f"interrupted after grading {quick} of 40" in err
    assert (out / "journal.jsonl").read_text().count("\n") == quick  # none that was running
    assert not _gone(family)
    for i, path in enumerate(sorted(cls.glob("*.py"))):
        path.write_text(body(i))  # the hanging ones fixed: the resume grades them
    resumed = grade(cls, "-o", out, "--assignment", course(tmp_path / "again", **patient))
    assert f"{40 - quick} graded now, {quick} already in the journal" in resumed.output


@pytest.mark.linux
def test_a_dead_worker_is_replaced_and_its_students_graded(tmp_path):
    cls = folder_class(tmp_path / "class", 30)
    out = tmp_path / "out"
    proc = _batch(cls, out, course(tmp_path))
    _wait_for_journal(out, 2)
    workers = [p for p in _descendants(proc.pid) if b"multiprocessing.spawn" in _cmdline(p)]
    os.kill(workers[0], signal.SIGKILL)  # what the OOM killer does
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert len(rows(out / "gradebook.csv")) == 30
    assert "grader_error" not in (out / "journal.jsonl").read_text()
    assert "a grading worker died" in (out / "grading.log").read_text()
    assert "a grading worker died (out of memory?)" in err  # not only in the log
    assert "graded by a fresh worker after the one that had them died" in \
        (out / "summary.md").read_text()


def test_a_grader_failure_is_reported_and_never_journaled(tmp_path, monkeypatch):
    from grader import batch

    real = batch._grade_all

    def failing(pending, *args):
        for entry, record in real(pending, *args):
            yield entry, (batch._failure(entry, "RuntimeError: injected")
                          if entry.key == "student002.py" else record)

    monkeypatch.setattr(batch, "_grade_all", failing)
    cls = folder_class(tmp_path / "class", 4)
    out = tmp_path / "out"
    result = run_cli("grade", cls, "-o", out, "--assignment", course(tmp_path))
    assert result.exit_code == 1 and "could NOT be graded" in result.stderr
    assert "student002.py" not in (out / "journal.jsonl").read_text()
    book = {r["student"]: r for r in rows(out / "gradebook.csv")}
    assert "injected" in book["student002"]["remarks"]
    assert book["student002"]["total"] == book["student002"]["raw"] == ""  # never a 0
    upload = tmp_path / "canvas.csv"
    export = run_cli("export", out, "--to", "gradescope", "-o", upload, "--roster",
                     _roster(tmp_path, 4))
    assert export.exit_code == 1 and "student002.py" in export.stderr
    assert "NOT graded, the grader failed (RuntimeError: injected)" in export.stderr
    assert "1 student(s) have no row" in export.stderr
    assert len(rows(upload)) == 3
    monkeypatch.setattr(batch, "_grade_all", real)
    again = grade(cls, "-o", out, "--assignment", course(tmp_path / "again"))
    assert "1 graded now, 3 already in the journal" in again.output
    assert json.loads((out / "results.json").read_text())["students"][2]["report"]


def _roster(folder: Path, students: int) -> Path:
    """A plain roster naming the students of `folder_class` by their names."""
    roster = folder / "roster.csv"
    roster.write_text("name,email\n" + "".join(f"student{i:03d},s{i}@uni.edu\n"
                                                for i in range(students)))
    return roster


def test_a_student_name_never_becomes_a_spreadsheet_formula(tmp_path):
    cls = tmp_path / "class"
    cls.mkdir()
    (cls / "=HYPERLINK(1).py").write_text(body(1))  # a name chosen by a student
    out = tmp_path / "out"
    grade(cls, "-o", out, "--assignment", course(tmp_path))
    (row,) = rows(out / "gradebook.csv")
    assert row["student"] == "'=HYPERLINK(1)" and float(row["total"]) < 100


def test_temporary_folders_of_killed_graders_are_swept_by_the_next_one(tmp_path):
    """A `check` killed outright leaves its folders; the next grader removes them (and
    never those of a grader still alive)."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f"backprop-harness-{dead.pid}-abc"
    (stale / "inner").mkdir(parents=True)
    os.chmod(stale, 0o555)  # harness copies are read-only
    alive = tmp_path / f"backprop-work-{os.getpid()}-xyz"
    alive.mkdir()
    other = tmp_path / "backprop-notes"  # not ours
    other.mkdir()
    done = subprocess.run([sys.executable, "-m", "grader", "check", str(SOLUTION), "--only",
                           "mul"], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "TMPDIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert not stale.exists() and alive.exists() and other.exists()
    assert not [p for p in tmp_path.iterdir() if p not in (alive, other)]  # its own: gone
