"""The grader's own file operations never follow a link a submission planted, and always
see and remove what a run made.

Links to an outside folder are planted everywhere the grader walks: a work folder (by the
submission, while the watchdog measures it and when the run removes it), the folders of a
grader that died (swept by the next one), a batch's scratch folder (a student's folder is
copied there links and all), and a batch's teardown after it finishes, after Ctrl-C and
after SIGKILL. The outside folder keeps its modes and contents. As a non-root TA, folders a
submission shuts (mode 0300, 000) are still counted by the watchdog and removed after.

Environments as in test_tiers.py: `container` (root as a default `docker run` leaves it,
where student code runs as a sandbox uid and its links land on the grader's disk) and
`user` (a TA's account with a venv of its own).
"""

from __future__ import annotations

import inspect
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, SOLUTION
from test_tiers import (TA_USER, checked, compose_into, course_in, grader_command,  # noqa: F401
                        place, ta)

pytestmark = pytest.mark.linux


def plant(folder: str, outside: str) -> None:
    """Links to `outside` (and to a file in it) at every depth of `folder`, one of them in
    a folder its owner cannot open."""
    import os

    for where in ("", "deep/er", "shut"):
        os.makedirs(os.path.join(folder, where), exist_ok=True)
        os.symlink(outside, os.path.join(folder, where, "out"))
        os.symlink(os.path.join(outside, "notes.txt"), os.path.join(folder, where, "notes"))
    os.symlink(os.path.join(outside, "nothing"), os.path.join(folder, "dangling"))
    try:
        os.chmod(os.path.join(folder, "shut"), 0)
    except OSError:
        pass  # the sandbox may refuse chmod: the links are planted all the same


def planted_by_a_submission(outside: Path, then: str = "") -> str:
    """The solution, planting links in its work folder when imported, then doing `then`."""
    return (f"{inspect.getsource(plant)}\nplant('.', {str(outside)!r})\n{then}\n")


@pytest.fixture
def outside(place: Path) -> Path:
    """A folder outside every run, with modes a chmod through a link would change."""
    folder = place / "outside"
    (folder / "inner").mkdir(parents=True)
    (folder / "notes.txt").write_text("the TA's notes\n")
    (folder / "inner" / "more.txt").write_text("more notes\n")
    os.chmod(folder / "inner" / "more.txt", 0o640)
    os.chmod(folder / "inner", 0o750)
    os.chmod(folder, 0o751)
    return folder


def snapshot(folder: Path) -> dict[str, tuple]:
    """Mode, owner and contents of everything in `folder`, itself included."""
    found = {}
    for path in [folder, *sorted(folder.rglob("*"))]:
        info = path.lstat()
        contents = path.read_bytes() if path.is_file() else None
        found[str(path.relative_to(folder))] = (info.st_mode, info.st_uid, contents)
    return found


def temp_dir(place: Path, owner: str = "root") -> Path:
    """The TMPDIR of a run, to see what it leaves behind."""
    folder = place / "tmp"
    folder.mkdir()
    os.chmod(folder, 0o755)
    shutil.chown(folder, owner, owner)
    return folder


def test_the_next_grader_sweeps_a_dead_graders_folders_without_following_links(place,
                                                                                 outside):
    before = snapshot(outside)
    tmp = temp_dir(place)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp / f"backprop-work-{dead.pid}-abc"
    plant(str(stale), str(outside))
    os.chmod(stale, 0o555)  # read-only, like a harness copy
    posing = tmp / f"backprop-root-{dead.pid}-xyz"  # a link named like a folder of ours
    posing.symlink_to(outside)
    done = subprocess.run([sys.executable, "-m", "grader", "check", SOLUTION, "--only",
                           "mul"], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "TMPDIR": str(tmp)})
    assert done.returncode == 0, done.stderr
    assert sorted(tmp.iterdir()) == [posing]  # the stale folder went; the link stayed
    assert snapshot(outside) == before


SHUT_FOLDERS = """
import os, time

def mul_backward(dout, x, y):
    os.umask(0)
    os.mkdir("hidden", 0o300)  # writable and enterable, not listable
    os.mkdir("hidden/deeper", 0o300)
    for i in range(FILES):
        open(f"hidden/deeper/f{i}", "w").close()
    os.mkdir("empty", 0)
    os.mkdir("full")
    open("full/f", "w").close()
    try:
        os.chmod("full", 0)
    except OSError:
        pass  # the sandbox may refuse chmod
    while True:  # until the watchdog stops it (or, unseen, the exercise's time)
        time.sleep(0.05)
"""


@pytest.mark.parametrize("env", ["container", "user"])
def test_folders_a_submission_shuts_are_counted_and_removed(env, place, outside, request):
    """A run that plants links and hides files in folders it shuts: the watchdog counts
    those files (a disk fault), nothing outside is touched and nothing is left."""
    owner = TA_USER if env == "user" else "root"
    for path in [outside, *outside.rglob("*")]:  # a chmod through a link would be allowed
        shutil.chown(path, owner, owner)
    before = snapshot(outside)
    tmp = temp_dir(place, owner)
    course = course_in(place)
    files = yaml.safe_load(course.read_text())["limits"].get("files", 256) + 50
    source = planted_by_a_submission(outside) + SHUT_FOLDERS.replace("FILES", str(files))
    report = checked(env, compose_into(place, source), course, request, {"TMPDIR": str(tmp)})
    mul = next(e for e in report["exercises"] if e["id"] == "mul")
    assert re.search(r"more than \d+ MiB or \d+ files", mul["hints"][0]), mul
    assert list(tmp.iterdir()) == []
    assert snapshot(outside) == before


def _class(place: Path, outside: Path, hang: bool) -> Path:
    """A class whose folder `ann/` (merged with `ann.py`) holds links, and whose `a_plant`
    plants links in its work folder when imported, then hangs there if `hang`."""
    students = place / "class"
    (students / "ann").mkdir(parents=True)
    shutil.copyfile(SOLUTION, students / "ann.py")
    shutil.copyfile(SOLUTION, students / "ann" / "backprop.py")
    plant(str(students / "ann" / "links"), str(outside))
    then = "while True:\n    __import__('time').sleep(1)" if hang else ""
    compose_into(students, planted_by_a_submission(outside, then), "a_plant.py")
    shutil.copyfile(SOLUTION, students / "bob.py")
    return students


def _patient(course: Path) -> Path:
    """A hanging import lasts until the test stops the batch."""
    data = yaml.safe_load(course.read_text())
    data["limits"].update(import_seconds=600, total_seconds=600)
    course.write_text(yaml.safe_dump(data))
    return course


def _wait(condition, what, seconds: float = 300) -> None:
    """Wait for `condition`; `what` (a string, or a function that says it) if it never
    comes. `seconds` is a hang guard, generous for a loaded machine."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what() if callable(what) else what
        time.sleep(0.05)


@pytest.mark.parametrize("end", ["finishes", "ctrl-c", "sigkill"])
def test_a_batch_removes_its_scratch_folder_without_following_links(end, place, outside,
                                                                    request):
    """As root in a container: the scratch folder (a student's folder copied with its
    links, work folders where a submission planted more) goes when the batch ends, is
    interrupted or is killed, and the outside folder is untouched."""
    before = snapshot(outside)
    tmp = temp_dir(place)
    students = _class(place, outside, hang=end != "finishes")
    course = _patient(course_in(place))
    command, environment = grader_command(
        "container", ["grade", students, "-o", place / "out", "-j", "2", "--assignment",
                      course], request, {"TMPDIR": str(tmp)})
    batch = subprocess.Popen(command, env=environment, cwd="/", stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        if end != "finishes":
            _wait(lambda: list(tmp.glob("backprop-batch-*/backprop-work-*/deep/er/out")),
                  "the submission never planted its links")
            if end == "ctrl-c":
                os.killpg(batch.pid, signal.SIGINT)
            else:
                batch.kill()
        _, err = batch.communicate(timeout=300)
        assert batch.returncode == {"finishes": 0, "ctrl-c": 130, "sigkill": -9}[end], err
        _wait(lambda: not list(tmp.iterdir()), lambda: "the scratch folder is still there: "
              + ", ".join(sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*"))[:20]), 120)
        assert snapshot(outside) == before
    finally:
        batch.kill()
    if end == "finishes":
        results = json.loads((place / "out" / "results.json").read_text())
        assert [s["report"]["score"] for s in results["students"]] == [100.0] * 3


def test_the_teardown_removes_what_appears_while_it_removes(tmp_path, monkeypatch):
    """A worker killed a moment before may still make a folder in the scratch folder while
    it is being removed (after Ctrl-C): the teardown goes on until nothing is left."""
    from grader import teardown
    from grader.sandbox import folders

    scratch = tmp_path / "backprop-batch-1-x"
    (scratch / "backprop-work-1-a").mkdir(parents=True)
    remove, late = folders.remove, []

    def remove_while_a_worker_writes(folder):
        remove(folder)
        if not late:  # the dying worker's last mkdir lands after the first pass
            late.append((Path(folder) / "backprop-work-1-b").mkdir(parents=True))

    monkeypatch.setattr(folders, "remove", remove_while_a_worker_writes)
    teardown.clean(scratch)
    assert late and not scratch.exists()
