"""The portable launch path, as students' macOS and Windows laptops take it: forced here by
hiding what only Linux (or POSIX) offers from the grader process itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, SUBMISSIONS, compose, header, may_lose

NOT_LINUX = """
import builtins, os, sys
real = builtins.__import__
def no_posix(name, *a, **k):
    if name in ("resource", "fcntl"):
        raise ImportError(name)
    return real(name, *a, **k)
builtins.__import__ = no_posix
for name in ("fork", "killpg"):  # neither exists on Windows
    os.__dict__.pop(name, None)
import grader.sandbox.child.processes as processes
processes.HAVE_PROC = False  # no /proc on macOS or Windows
sys.platform = "darwin"  # what the tier probe sees, from the first import of the CLI on
from grader.cli import main
main()
"""


@pytest.mark.parametrize("name", ["loop_forever", "os_exit", "stdout_flood", "segfault",
                                  "chatty_import_thread"])
def test_a_check_runs_where_linux_facilities_do_not_exist(name, tmp_path):
    """What a Windows or macOS laptop gets: no resource, fcntl, fork, killpg or /proc in
    the grader, the portable launch path, and a verdict that still costs only the faulty
    gate, marked advisory."""
    path = SUBMISSIONS / "hostile" / f"{name}.py"
    done = subprocess.run([sys.executable, "-c", NOT_LINUX, "check", "--json",
                           str(compose(tmp_path, path))], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    report = json.loads(done.stdout)
    assert report["confinement"]["tier"] == "unconfined"
    assert report["confinement"]["missing"] == ["isolation on darwin"]
    assert "advisory" in report["confinement"]["description"]
    lost = {e["id"] for e in report["exercises"] if e["score"] != e["max_score"]}
    target = header(path)["exercise"]
    assert lost == set() if target == "-" else target in lost <= may_lose(target), lost


def test_a_check_that_runs_nothing_leaves_no_child_behind(tmp_path):
    """Without a fork server, `check` starts its first child as it loads, in a work folder
    of its own: a check that runs no student code (a notebook that does not parse) stops
    that child and removes its folder."""
    notebook = tmp_path / "backprop.ipynb"
    notebook.write_text("{not json")
    temp = tmp_path / "tmp"
    temp.mkdir()
    done = subprocess.run([sys.executable, "-c", NOT_LINUX, "check", "--json", str(notebook)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TMPDIR": str(temp)})
    assert json.loads(done.stdout)["score"] == 0, done.stderr
    assert list(temp.iterdir()) == []
