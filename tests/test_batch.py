"""`backprop grade`: a class in three layouts, hostile submissions mixed in, resumable."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, SOLUTION, SUBMISSIONS, run_cli
from grader.batch import Progress, read_journal

BAD = sorted((SUBMISSIONS / "bad").glob("*.py"))
HOSTILE = {name: SUBMISSIONS / "hostile" / f"{name}.py" for name in (
    "loop_forever", "segfault", "prints_fake_results", "setsid_daemon")}


def body(i: int) -> str:
    """Student i: correct, or one classic mistake."""
    extra = "" if i % 3 == 0 else "\n\n" + BAD[i % len(BAD)].read_text()
    return SOLUTION.read_text() + extra


def hostile(name: str) -> str:
    return SOLUTION.read_text() + "\n\n" + HOSTILE[name].read_text()


def plain_class(folder: Path, students: int = 12) -> Path:
    folder.mkdir(parents=True)
    for i in range(students):
        (folder / f"student{i:02d}.py").write_text(body(i))
    (folder / "zoe_forbidden.py").write_text("import torch\n")
    (folder / "yan_loop.py").write_text(hostile("loop_forever"))
    (folder / "xia_segfault.py").write_text(hostile("segfault"))
    (folder / "wes_fake.py").write_text(hostile("prints_fake_results"))
    (folder / "vic_daemon.py").write_text(hostile("setsid_daemon"))
    nested = folder / "uma_folder"
    nested.mkdir()
    (nested / "backprop.py").write_text(body(0))
    with zipfile.ZipFile(folder / "tom_zipped.zip", "w") as z:
        z.writestr("hw/backprop.py", body(1))
    return folder


def read_gradebook(outdir: Path) -> list[dict]:
    with open(outdir / "gradebook.csv", newline="") as f:
        return list(csv.DictReader(f))


def grade(path: Path, outdir: Path, *extra: str):
    result = run_cli("grade", path, "-o", outdir, "--assignment", TIGHT, *extra)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module", autouse=True)
def tight_limits(tmp_path_factory):
    """Hostile cases finish quickly with a 2 s exercise budget."""
    global TIGHT
    folder = tmp_path_factory.mktemp("course")
    for path in (ROOT / "exercises").glob("*.yaml"):
        shutil.copyfile(path, folder / path.name)
    assignment = yaml.safe_load((folder / "assignment.yaml").read_text())
    assignment["limits"] = {"exercise_seconds": 2, "total_seconds": 30}
    (folder / "assignment.yaml").write_text(yaml.safe_dump(assignment))
    TIGHT = folder / "assignment.yaml"


def test_a_plain_folder_with_hostile_submissions_mixed_in(tmp_path):
    out = tmp_path / "out"
    result = grade(plain_class(tmp_path / "class"), out)
    assert "19 submissions (folder layout): 19 graded now" in result.output
    rows = {r["student"]: r for r in read_gradebook(out)}
    assert set(rows) >= {"student00", "uma_folder", "tom_zipped", "zoe_forbidden"}
    assert float(rows["student00"]["total"]) == 100 and float(rows["uma_folder"]["total"]) == 100
    assert float(rows["tom_zipped"]["total"]) < 100  # body(1) carries a mistake
    assert float(rows["zoe_forbidden"]["total"]) == 0 and "forbids" in rows["zoe_forbidden"][
        "remarks"]
    assert float(rows["yan_loop"]["mul"]) == 0 and float(rows["yan_loop"]["add"]) == 5
    assert float(rows["vic_daemon"]["total"]) == 100
    assert list(rows["student00"])[:5] == ["student", "raw", "late_penalty", "total",
                                           "max_score"]
    summary = (out / "summary.md").read_text()
    for expected in ("## Score distribution", "## Per exercise", "## Most common mistakes",
                     "timed out (1): yan_loop", "crashed or exited early (1): xia_segfault",
                     "used a forbidden module (1): zoe_forbidden", "wes_fake"):
        assert expected in summary, expected
    feedback = sorted(p.name for p in (out / "feedback").glob("*.md"))
    assert len(feedback) == 19
    text = (out / "feedback" / "yan_loop__yan_loop.py.md").read_text()
    assert "timed out after 2 s" in text and "# Feedback for yan_loop" in text
    results = json.loads((out / "results.json").read_text())
    assert len(results["students"]) == 19 and results["max_score"] == 100
    try:
        import matplotlib  # noqa: F401  (the test extra installs it)
        assert (out / "summary.png").is_file() and "summary.png" in summary
    except ImportError:
        assert not (out / "summary.png").exists()


GRADESCOPE_METADATA = """\
submission_1001:
  :submitters:
  - :name: Ada Lovelace
    :sid: '31'
    :email: ada@example.edu
  :created_at: 2024-02-27 06:58:05.746365000 Z
  :score: 0.0
  :status: processed
submission_1002:
  :submitters:
  - :name: Charles Babbage
    :sid: '32'
    :email: cb@example.edu
  - :name: Grace Hopper
    :sid: '33'
    :email: gh@example.edu
  :created_at: 2024-02-27 07:00:00.000000000 Z
  :score: 0.0
"""


def test_a_gradescope_export_zip(tmp_path):
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("assignment_9100_export/submission_metadata.yml", GRADESCOPE_METADATA)
        z.writestr("assignment_9100_export/submission_1001/backprop.py", body(0))
        z.writestr("assignment_9100_export/submission_1002/backprop.ipynb",
                   _notebook(body(2)))
        z.writestr("__MACOSX/assignment_9100_export/._submission_1001", b"junk")
    out = tmp_path / "out"
    result = grade(archive, out)
    assert "(gradescope layout)" in result.output
    rows = read_gradebook(out)
    assert [r["student"] for r in rows] == ["Ada Lovelace", "Charles Babbage & Grace Hopper"]
    assert rows[0]["sid"] == "31" and rows[0]["email"] == "ada@example.edu"
    assert rows[1]["sid"] == "32;33" and rows[1]["gradescope_id"] == "1002"
    assert float(rows[0]["total"]) == 100 and float(rows[1]["total"]) < 100


def _notebook(source: str) -> str:
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    return nbformat.writes(new_notebook(cells=[new_code_cell(source)]))


def test_a_canvas_download(tmp_path):
    archive = tmp_path / "CS101-Homework_3_submissions.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("smithbob_340934_208490284_backprop.py", body(0))
        z.writestr("doejane_LATE_340935_208490290_backprop-1.ipynb", _notebook(body(4)))
        z.writestr("lee_a_b_340936_208490291_backprop.py", body(3))
        z.writestr("anon_x7f3k_208490299_backprop.py", body(6))
        z.writestr("README.txt", "not a submission")
        z.writestr("mystery.py", body(0))
    out = tmp_path / "out"
    result = grade(archive, out)
    assert "(canvas layout)" in result.output
    rows = {r["student"]: r for r in read_gradebook(out)}
    assert rows["smithbob"]["canvas_id"] == "340934" and rows["smithbob"]["late"] == "no"
    assert rows["doejane"]["late"] == "yes" and rows["lee_a_b"]["canvas_id"] == "340936"
    assert rows["anon_x7f3k"]["canvas_id"] == "x7f3k"
    assert float(rows["smithbob"]["total"]) == 100
    assert "mystery" not in rows and "README" not in rows  # strays are no students
    summary = (out / "summary.md").read_text()
    assert "## Not submissions (not graded)\n\n- README.txt\n- mystery.py" in summary


def test_same_inputs_same_gradebook_and_force_regrades(tmp_path):
    cls = tmp_path / "class"
    cls.mkdir()
    for i in range(6):
        (cls / f"s{i}.py").write_text(body(i))
    first, second = tmp_path / "a", tmp_path / "b"
    grade(cls, first, "--seed", "3")
    grade(cls, second, "--seed", "3", "-j", "1")
    assert (first / "gradebook.csv").read_text() == (second / "gradebook.csv").read_text()
    for f in (first / "feedback").glob("*.md"):
        assert f.read_text() == (second / "feedback" / f.name).read_text()
    again = grade(cls, first, "--seed", "3")
    assert "0 graded now, 6 already in the journal" in again.output
    (cls / "s0.py").write_text(body(1))  # a changed submission is graded again
    changed = grade(cls, first, "--seed", "3")
    assert "1 graded now, 5 already in the journal" in changed.output
    forced = grade(cls, first, "--seed", "3", "--force")
    assert "6 graded now, 0 already" in forced.output
    other_seed = grade(cls, first, "--seed", "4")
    assert "6 graded now" in other_seed.output


def test_a_batch_killed_with_sigkill_resumes_without_regrading(tmp_path):
    cls = tmp_path / "class"
    cls.mkdir()
    total = 40
    for i in range(total):
        (cls / f"s{i:02d}.py").write_text(body(i))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "grader", "grade", str(cls), "-o", str(out), "-j", "2"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal = out / "journal.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if journal.exists() and journal.read_text().count("\n") >= 5:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = read_journal(out)
    assert 5 <= len(before) < total, "the batch finished before it could be killed"
    with open(journal, "ab") as f:
        f.write(b'{"key": "s99.py", "trunc')  # a line a crash cut short
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{total - len(before)} graded now, {len(before)} already in the journal" in \
        rerun.stdout
    after = read_journal(out)
    assert sorted(after) == sorted(f"s{i:02d}.py" for i in range(total))
    for key, record in before.items():
        assert after[key] == record  # not regraded
    assert len(read_gradebook(out)) == total


def test_progress_is_a_bar_on_a_terminal_and_lines_elsewhere():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    tty, pipe = Tty(), io.StringIO()
    for stream in (tty, pipe):
        bar = Progress(30, stream, every=10)
        for _ in range(30):
            bar.step()
    assert "30/30" in tty.getvalue() and "ETA" in tty.getvalue()
    lines = pipe.getvalue().splitlines()
    assert [line.split(" · ")[0] for line in lines] == ["graded 10/30", "graded 20/30",
                                                         "graded 30/30"]


def test_usage_errors(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    result = run_cli("grade", tmp_path / "notes.txt", "-o", tmp_path / "out")
    assert result.exit_code == 2 and "neither a folder nor a .zip" in result.output
    missing_out = run_cli("grade", tmp_path)
    assert missing_out.exit_code == 2 and "--output" in missing_out.output


def test_the_summary_chart_with_and_without_matplotlib(tmp_path, monkeypatch):
    from grader import summary
    from grader.exercises import load_assignment

    from grader.gradebook import Grade

    records = [{"key": f"s{i}", "student": f"s{i}", "ids": {}, "incidents": [], "hints": {},
                "report": {"score": float(10 * i), "exercises": [], "error": None}}
               for i in range(8)]
    grades = {r["key"]: Grade(10.0 * i, 0.0, 10.0 * i, {}) for i, r in enumerate(records)}
    scores = [g.final for g in grades.values()]
    assignment = load_assignment()
    pytest.importorskip("matplotlib")
    assert summary.write_chart(tmp_path / "chart.png", scores, assignment)
    assert (tmp_path / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    assert not summary.write_chart(tmp_path / "none.png", scores, assignment)
    text = summary.summary_markdown(records, grades, assignment, "folder")
    assert "## Score distribution" in text and "█" in text


@pytest.mark.skipif(os.name == "nt", reason="a SIGTERM sent to itself")
def test_a_signal_waits_until_the_record_is_journaled_and_counted():
    """SIGTERM in the middle of journaling a record is raised once the record is both in
    the journal and counted, so that the batch's message matches its journal."""
    from grader.batch import Terminated, _signals_deferred

    def stop(signum, frame):
        raise Terminated

    previous = signal.signal(signal.SIGTERM, stop)
    done, idle = [], threading.Event()
    helper = threading.Thread(target=idle.wait)  # as the pool's threads: the kernel may
    helper.start()  # hand a process's signal to any thread that does not block it
    try:
        with pytest.raises(Terminated):
            with _signals_deferred():
                os.kill(os.getpid(), signal.SIGTERM)
                done.append("journaled")
                done.append("counted")
    finally:
        signal.signal(signal.SIGTERM, previous)
        idle.set()
        helper.join()
    assert done == ["journaled", "counted"]
