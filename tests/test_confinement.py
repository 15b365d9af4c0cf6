"""What the container and user tiers promise, tried in the layouts users have: a venv made
by `python3 -m venv` (its `lib64 -> lib` link), this machine's merged /usr (`/lib ->
usr/lib`), and links planted inside site-packages that point into the grader.

Environments as in test_tiers.py: `full` (root, every capability), `container` (root as a
default `docker run` leaves it) and `user` (a TA's account with a venv of its own).
"""

from __future__ import annotations

import csv
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, SOLUTION
from test_tiers import (ENVIRONMENTS, TA_USER, TA_VENV, TIERS_CORPUS, checked, compose_into,  # noqa: F401
                        course_in, grader_command, place, run_grader, ta)

pytestmark = pytest.mark.linux


def _site_packages(env: str, request) -> Path:
    if env == "full":
        import numpy
        return Path(numpy.__file__).resolve().parents[1]
    request.getfixturevalue("ta")  # the session's venv, built on first use
    return next((TA_VENV / "lib").glob("python3*/site-packages"))


def _generous(course: Path) -> Path:
    """A whole-disk walk takes seconds: give its gate the time."""
    data = yaml.safe_load(course.read_text())
    data["limits"].update(exercise_seconds=90, total_seconds=150)
    course.write_text(yaml.safe_dump(data))
    return course


def _starts(forbidden: list[Path], env: str) -> list[str]:
    """Where an attacker starts: the usual roots, the interpreter's folders, and every
    folder above a forbidden path together with everything in it (`lib64` among them)."""
    starts = {"/", "/usr", "/lib", "/lib64", "/bin", "/etc", "/tmp", "/var/tmp", sys.prefix,
              str(TA_VENV)}
    for path in forbidden:
        for folder in Path(path).parents:
            starts.add(str(folder))
            try:
                starts.update(str(child) for child in folder.iterdir())
            except OSError:
                pass
    return sorted(starts)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_nothing_of_the_grader_is_readable_by_any_path(env, place, request):
    """A walk of everything the child can read, following every link, finds no file of the
    grader, the reference, the course, a secret or another student."""
    site = _site_packages(env, request)
    course = _generous(course_in(place))
    secret = place / "source" / "grading.json"
    secret.parent.mkdir()
    secret.write_text('{"secret": "SECRET-seed"}')
    other = place / "class" / "other_student.py"
    other.parent.mkdir()
    other.write_text("# another student's work\n")
    installed = [site / "grader", site / "reference"]
    forbidden = [*installed, ROOT / "grader", ROOT / "reference", ROOT / "exercises",
                 course.parent, secret.parent, other.parent]
    # Named for this test alone: the full tier's site-packages is the machine's, shared
    # with any other session running this test meanwhile.
    tag = secrets.token_hex(4)
    planted = [site / "numpy" / f"backprop_planted_link_{tag}", site / f"zz_planted_alias_{tag}"]
    os.chmod(place, 0o755)
    try:
        for link in planted:
            link.symlink_to(site / "reference")
        source = (TIERS_CORPUS / "walk_readable.py").read_text()
        source = source.replace("START", repr(_starts(forbidden, env))).replace(
            "FORBIDDEN", repr([str(p) for p in forbidden]))
        report = checked(env, compose_into(place, source), course, request)
    finally:
        for link in planted:
            link.unlink(missing_ok=True)
    mul = next(e for e in report["exercises"] if e["id"] == "mul")
    assert mul["score"] == mul["max_score"], mul["hints"]
    assert report["score"] == report["max_score"]


NO_LANDLOCK = ROOT / "tests" / "environments" / "no_landlock.py"
ADVISORY = "advisory: not confined"


def _class_of_two(place: Path) -> Path:
    students = place / "class"
    students.mkdir()
    for name in ("ann", "bob"):
        shutil.copyfile(SOLUTION, students / f"{name}.py")
    out = place / "out"
    out.mkdir()
    os.chmod(out, 0o777)
    return students


def _ta_without_landlock(args: list, request) -> subprocess.CompletedProcess:
    command, environment = grader_command("user", args, request)
    return subprocess.run([sys.executable, str(NO_LANDLOCK), *command], env=environment,
                          capture_output=True, text=True, timeout=300, cwd="/")


@pytest.mark.parametrize("weakness", ["no Landlock", "forced unconfined"])
def test_a_ta_batch_refuses_an_incomplete_sandbox_unless_told(weakness, place, request):
    """Fail closed as non-root too: a TA's batch where Landlock is missing (or the
    sandbox was turned off) grades nothing; with --allow-unconfined every row and every
    feedback file says the grades are advisory."""
    students = _class_of_two(place)
    args = ["grade", students, "-o", place / "out", "--seed", "1"]
    if weakness == "no Landlock":
        run = lambda extra: _ta_without_landlock(args + extra, request)  # noqa: E731
    else:
        run = lambda extra: run_grader(  # noqa: E731
            "user", args + extra, request, {"BACKPROP_CONFINEMENT": "unconfined"})
    refused = run([])
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "could not protect" in refused.stderr and "--allow-unconfined" in refused.stderr
    assert "Landlock" in refused.stderr if weakness == "no Landlock" else True
    assert not (place / "out" / "gradebook.csv").exists()
    graded = run(["--allow-unconfined"])
    assert graded.returncode == 0, graded.stdout + graded.stderr
    with open(place / "out" / "gradebook.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["total"] for r in rows] == ["100", "100"]
    assert all(ADVISORY in r["remarks"] for r in rows), rows
    feedback = sorted((place / "out" / "feedback").glob("*.md"))
    assert len(feedback) == 2 and all(ADVISORY in p.read_text() for p in feedback)


def _platform_tree(place: Path, platform: str) -> Path:
    tree = place / platform
    secret = json.dumps({"secret": "SECRET-of-the-course"})
    if platform == "gradescope":
        for sub in ("submission", "source", "results"):
            (tree / sub).mkdir(parents=True)
        shutil.copyfile(SOLUTION, tree / "submission" / "backprop.py")
        (tree / "source" / "grading.json").write_text(secret)
    else:
        for sub in ("student", "serverFilesCourse/backprop", "results", "data"):
            (tree / sub).mkdir(parents=True)
        shutil.copyfile(SOLUTION, tree / "student" / "backprop.py")
        (tree / "serverFilesCourse" / "backprop" / "grading.json").write_text(secret)
        (tree / "data" / "data.json").write_text('{"variant_seed": "7"}')
    return tree


@pytest.mark.parametrize("platform", ["gradescope", "prairielearn"])
def test_platforms_refuse_an_unconfined_run_unless_told(platform, place, request):
    tree = _platform_tree(place, platform)
    args = [platform, "run", "--root", tree]
    unconfined = {"BACKPROP_CONFINEMENT": "unconfined"}
    refused = run_grader("full", args, request, unconfined)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    results = json.loads((tree / "results" / "results.json").read_text())
    text = results.get("output") or results.get("message")
    assert "could not protect this run" in text and results.get("score", 0) == 0
    assert results.get("gradable", False) is False if platform == "prairielearn" else True
    graded = run_grader("full", args + ["--allow-unconfined"], request, unconfined)
    assert graded.returncode == 0, graded.stdout + graded.stderr
    results = json.loads((tree / "results" / "results.json").read_text())
    assert ADVISORY in (results.get("output") or results.get("message"))
    assert results["score"] in (100, 1.0)


def test_check_stays_advisory_and_says_so(place, request):
    done = run_grader("user", ["check", SOLUTION], request, {"BACKPROP_CONFINEMENT": "unconfined"})
    assert done.returncode == 0, done.stderr
    assert "sandbox: unconfined" in done.stdout and "advisory" in done.stdout


def _alive_named(name: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == name:
                found.append(int(pid))
        except OSError:
            continue
    return found


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_way_past_the_limits_is_stopped(env, place, request):
    """memfd memory, unlinked or nameless files, attribute changes, a pathname unix socket
    of the TA's, and a pid-hopping daemon: each fails inside the sandbox (the gate keeps
    its points) or is cleaned up, in every tier."""
    marker = f"bpg-hop-{secrets.token_hex(3)}"
    ta_file = place / "ta-private.txt"
    ta_file.write_text("the TA's notes\n")
    os.chmod(ta_file, 0o600)
    if env == "user":
        shutil.chown(ta_file, TA_USER, TA_USER)
    listener = socket.socket(socket.AF_UNIX)
    agent = place / "agent.sock"
    listener.bind(str(agent))
    listener.listen(1)
    listener.setblocking(False)
    os.chmod(agent, 0o777)
    source = (TIERS_CORPUS / "escapes.py").read_text()
    for name, value in (("TA_FILE", str(ta_file)), ("SOCKET_PATH", str(agent)),
                        ("MARKER", marker), ("DISK_BYTES", 32 << 20)):
        source = source.replace(name, repr(value))
    try:
        report = checked(env, compose_into(place, source), course_in(place), request)
        lost = {e["id"]: e["hints"] for e in report["exercises"] if e["score"] < e["max_score"]}
        assert lost == {}, lost
        with pytest.raises(BlockingIOError):
            listener.accept()
        assert ta_file.stat().st_mode & 0o777 == 0o600
        assert _alive_named(marker) == []
    finally:
        listener.close()
        for pid in _alive_named(marker):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("env", ["full", "user"])
def test_limits_stricter_than_ours_are_kept_not_a_machine_fault(env, place, request):
    """A grader started under a lower hard limit (a shell's ulimit, or a limit something
    lowered) still confines its children: it keeps the stricter limit instead of failing
    to raise it, which it would report as "could not protect this run"."""
    command, environment = grader_command(env, ["check", SOLUTION, "--json"], request)
    done = subprocess.run(["prlimit", "--fsize=4194304:4194304", "--", *command],
                          env=environment, capture_output=True, text=True, timeout=300, cwd="/")
    assert done.returncode == 0, done.stdout[-1000:] + done.stderr[-2000:]
    assert json.loads(done.stdout)["score"] == 100
