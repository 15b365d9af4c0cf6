"""What the container and user tiers promise, tried in the layouts users have: a venv made
by `python3 -m venv` (its `lib64 -> lib` link), this machine's merged /usr (`/lib ->
usr/lib`), and links planted inside site-packages that point into the grader.

Environments as in test_tiers.py: `full` (root, every capability), `container` (root as a
default `docker run` leaves it) and `user` (a TA's account with a venv of its own).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from test_tiers import (ENVIRONMENTS, TA_VENV, TIERS_CORPUS, checked, compose_into,  # noqa: F401
                        course_in, place, ta)

pytestmark = pytest.mark.linux


def _site_packages(env: str) -> Path:
    if env == "full":
        import numpy
        return Path(numpy.__file__).resolve().parents[1]
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
    site = _site_packages(env)
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
    planted = [site / "numpy" / "backprop_planted_link", site / "zz_planted_alias"]
    for link in planted:
        link.symlink_to(site / "reference")
    source = (TIERS_CORPUS / "walk_readable.py").read_text()
    source = source.replace("START", repr(_starts(forbidden, env))).replace(
        "FORBIDDEN", repr([str(p) for p in forbidden]))
    os.chmod(place, 0o755)
    try:
        report = checked(env, compose_into(place, source), course, request)
    finally:
        for link in planted:
            link.unlink()
    mul = next(e for e in report["exercises"] if e["id"] == "mul")
    assert mul["score"] == mul["max_score"], mul["hints"]
    assert report["score"] == report["max_score"]
