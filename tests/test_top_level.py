"""A top-level statement that never finishes (a training loop left in the file) or ends the
process is stopped, skipped and listed with its line, like one that raises, on every path:
`check` (a .py, a notebook with --run-all), a batch, Gradescope and PrairieLearn. The file
keeps the marks of its functions, those defined after the statement included (issue 22: a
training loop at the bottom of a .py scored 0/100, "importing took longer than 10 s")."""

from __future__ import annotations

import csv
import json

import nbformat
import pytest
import yaml

from conftest import ROOT, SOLUTION, run_cli
from grader import exercises

pytestmark = pytest.mark.linux

LIMITS = {"import_seconds": 1, "exercise_seconds": 3, "total_seconds": 40}
TRAINING = ("W = np.zeros(3)\n"
            "for epoch in range(10**12):  # a training loop that outlasts any budget\n"
            "    W = W - 0.01 * np.ones(3)\n\n\n")
WAITING = "\n\nimport time\ntime.sleep(10**6)  # waits without using the CPU\n"
STOPPED = "stopped: still running after 1 s, so the grader ended it"


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    folder = tmp_path_factory.mktemp("course")
    for path in (ROOT / "exercises").glob("*.yaml"):
        (folder / path.name).write_bytes(path.read_bytes())
    assignment = yaml.safe_load((folder / "assignment.yaml").read_text())
    assignment["limits"] = LIMITS
    (folder / "assignment.yaml").write_text(yaml.safe_dump(assignment))
    return folder / "assignment.yaml"


def slow_source() -> tuple[str, list[int]]:
    """The solution with a training loop before linear_backward and a wait at the end;
    and the lines those two statements start at."""
    solution = SOLUTION.read_text()
    cut = solution.index("def linear_backward")
    source = solution[:cut] + TRAINING + solution[cut:] + WAITING
    lines = source.splitlines()
    return source, [lines.index(s) + 1 for s in lines if s.startswith(("for epoch", "time.s"))]


def assert_listed(text: str, lines: list[int]) -> None:
    for line in lines:
        assert f"line {line}: {STOPPED}" in text, text
    assert "was not run" not in text  # a .py runs all of it: nothing is "not run" by rule


def test_check_skips_a_slow_statement_and_lists_its_line(course, tmp_path):
    source, lines = slow_source()
    (tmp_path / "backprop.py").write_text(source)
    result = run_cli("check", tmp_path / "backprop.py", "--assignment", course)
    assert result.exit_code == 0, result.output  # 0: full marks
    assert_listed(result.output, lines)
    assert "still running after 1 s or ending the process were stopped and skipped" in \
        result.output


def test_slow_statements_never_use_up_the_time_of_the_functions(course, tmp_path):
    """Four waits at the bottom, each stopped after 1 s, in a submission that has 3 s in
    all: their time is the grader's, not the submission's, and the functions keep theirs
    (each wait used to eat into the total until the file scored 0)."""
    tight = tmp_path / "course"
    tight.mkdir()
    data = yaml.safe_load(course.read_text())
    data["limits"] = {**LIMITS, "total_seconds": 3}
    (tight / "assignment.yaml").write_text(yaml.safe_dump(data))
    source = SOLUTION.read_text() + "\nimport time\n" + "".join(f"time.sleep(10**6 + {i})\n"
                                                               for i in range(4))
    (tmp_path / "backprop.py").write_text(source)
    result = run_cli("check", tmp_path / "backprop.py", "--assignment",
                     tight / "assignment.yaml")
    assert result.exit_code == 0, result.output
    lines = source.splitlines()
    assert_listed(result.output, [i + 1 for i, s in enumerate(lines) if s.startswith("time.")])


def test_check_with_run_all_skips_a_slow_notebook_cell(course, tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(SOLUTION.read_text()), nbformat.v4.new_code_cell(TRAINING)])
    nbformat.write(notebook, tmp_path / "backprop.ipynb")
    result = run_cli("check", tmp_path / "backprop.ipynb", "--run-all", "--assignment", course)
    assert result.exit_code == 0, result.output
    assert f"code cell 2, line 2: {STOPPED}" in result.output, result.output


@pytest.mark.parametrize("statement, why", [
    ("import os\nos._exit(0)", "the process exited (status 0)"),
    ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", "the process crashed with SIGKILL"),
    ("import ctypes\nctypes.string_at(0)", "the process crashed with SIGSEGV"),
])
def test_a_statement_that_ends_the_process_is_skipped(course, tmp_path, statement, why):
    source = SOLUTION.read_text() + "\n\n" + statement + "\n"
    (tmp_path / "backprop.py").write_text(source)
    result = run_cli("check", tmp_path / "backprop.py", "--assignment", course)
    assert result.exit_code == 0, result.output
    last = len(source.splitlines())
    assert f"line {last}: stopped: {why}" in result.output, result.output


@pytest.mark.parametrize("definition", [
    "def fit(steps=sum(range(10**12))):\n    return steps",
    "import time\n@lambda f: time.sleep(10**6)\ndef fit():\n    pass",
    "class Model:\n    weights = [i for i in range(10**12)]",
])
def test_a_definition_that_runs_code_is_stopped_like_any_statement(course, tmp_path,
                                                                   definition):
    """Only what cannot take long goes unannounced (constants, plain defs): a default, a
    decorator or a class body that runs code is watched like any other statement."""
    source = SOLUTION.read_text() + "\n\n" + definition + "\n"
    (tmp_path / "backprop.py").write_text(source)
    result = run_cli("check", tmp_path / "backprop.py", "--assignment", course)
    assert result.exit_code == 0, result.output
    assert f": {STOPPED}" in result.output, result.output


def test_a_batch_skips_a_slow_statement(course, tmp_path):
    students = tmp_path / "class"
    students.mkdir()
    source, lines = slow_source()
    (students / "ann.py").write_text(source)
    (students / "bob.py").write_text(SOLUTION.read_text())
    out = tmp_path / "out"
    result = run_cli("grade", students, "-o", out, "--assignment", course, "--seed", "1")
    assert result.exit_code == 0, result.output
    with open(out / "gradebook.csv", newline="") as f:
        totals = {row["student"]: float(row["total"]) for row in csv.DictReader(f)}
    assert totals == {"ann": 100.0, "bob": 100.0}
    (feedback,) = (out / "feedback").glob("ann*.md")
    assert_listed(feedback.read_text(), lines)


def test_gradescope_skips_a_slow_statement(course, tmp_path, monkeypatch):
    monkeypatch.setattr(exercises, "default_assignment_path", lambda: course)
    monkeypatch.setenv("BACKPROP_SECRET_SEED", "secret-of-the-test")
    source, lines = slow_source()
    (tmp_path / "submission").mkdir()
    (tmp_path / "submission" / "backprop.py").write_text(source)
    (tmp_path / "submission_metadata.json").write_text(json.dumps({"id": 7}))
    result = run_cli("gradescope", "run", "--root", tmp_path)
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    assert results["score"] == 100, results
    assert_listed(results["output"], lines)


def test_prairielearn_skips_a_slow_statement(course, tmp_path, monkeypatch):
    monkeypatch.setenv("BACKPROP_SECRET_SEED", "secret-of-the-test")
    source, lines = slow_source()
    for folder in ("student", "data"):
        (tmp_path / folder).mkdir()
    (tmp_path / "student" / "backprop.py").write_text(source)
    (tmp_path / "data" / "data.json").write_text(json.dumps({"variant_seed": 3}))
    result = run_cli("prairielearn", "run", "--root", tmp_path, "--assignment", course)
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    assert results["gradable"] and results["score"] == 1.0, results
    assert_listed(results["message"], lines)
