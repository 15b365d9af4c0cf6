"""Whose fault a failed run is. Before the child reports its confinement no student code has
run: a child that cannot be confined, or dies first, is the machine's problem and the
grader refuses to grade (ConfinementError); the time it takes to start is never charged to
the submission. After that report, a timeout, a crash or a flood is the submission's and
costs only what it touched. Threads the import left running never make the grader start
child after child (issue 18: a chatty thread scored 66-78/100, 0/100 or "could not protect
this run" from one run to the next)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from conftest import SUBMISSIONS, compose
from grader.grading import grade
from grader.sandbox import ConfinementError, Limits, runner, tiers

pytestmark = pytest.mark.linux

CHILD = Path(runner.__file__).parent / "child"
CHATTY = SUBMISSIONS / "hostile" / "chatty_import_thread.py"


@pytest.fixture
def child_that(monkeypatch):
    """Children started from a copy of the harness whose main() first runs `lines` (before
    it confines itself). Spawned children only: the full tier binds the copy into its jail
    (Landlock's allow-list, in other tiers, is computed once per process)."""
    if tiers.current().name != "full":
        pytest.skip(f"needs the full tier (root with CAP_SYS_ADMIN); here: "
                    f"{tiers.current().name}")
    made = []

    def make(*lines: str) -> None:
        folder = tempfile.mkdtemp(prefix="backprop-test-harness-")
        made.append(folder)
        for path in CHILD.glob("*.py"):
            shutil.copyfile(path, os.path.join(folder, path.name))
        harness = Path(folder, "harness.py")
        anchor = "def main(request_fd, result_fd):\n"
        assert anchor in harness.read_text()
        harness.write_text(harness.read_text().replace(
            anchor, anchor + "".join(f"    {line}\n" for line in lines)))
        os.chmod(folder, 0o755)
        monkeypatch.setattr(tiers, "harness_dir", lambda: folder)
        monkeypatch.setattr(runner, "_zygote", None)

    yield make
    for folder in made:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_slow_start_is_the_machines_time_not_the_submissions(child_that, tmp_path):
    """The child reports its confinement after 6 s, past the submission's total of 5 s:
    that time was the machine's, so the submission is graded, with its own 5 s."""
    child_that("time.sleep(6)")
    report = grade(compose(tmp_path, ""), limits=Limits(total_seconds=5))
    assert report.error is None


def test_a_child_that_dies_before_it_is_confined_is_the_machines_fault(child_that, tmp_path):
    child_that("os._exit(3)")
    with pytest.raises(ConfinementError, match="stopped before it was confined"):
        grade(compose(tmp_path, ""))


def test_a_lockdown_that_fails_is_the_machines_fault(child_that, tmp_path):
    child_that("def refuse(plan):", "    raise lockdown.LockdownError('no Landlock here')",
               "lockdown.apply = refuse")
    with pytest.raises(ConfinementError, match="could not be set up: no Landlock here"):
        grade(compose(tmp_path, ""))


def test_threads_the_import_started_never_restart_the_child(tmp_path, monkeypatch):
    """Every fresh child would import the file, and start them, again: one child does it
    all, with full marks, and what the thread prints is no gate's output."""
    started = []
    real = runner._Session.__init__

    def counted(session, *args, **kwargs):
        started.append(session)
        real(session, *args, **kwargs)

    monkeypatch.setattr(runner._Session, "__init__", counted)
    report = grade(compose(tmp_path, CHATTY))
    assert report.score == report.max_score, [(r.exercise.id, r.hints)
                                              for r in report.exercises if r.hints]
    assert len(started) == 1
    assert not any(r.printed for r in report.exercises)
