"""Gradescope and PrairieLearn entrypoints against real /autograder and /grade trees that
the tests create (as root, like the platforms) and remove afterwards."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import jsonschema
import pytest
import yaml

from conftest import ROOT, SOLUTION, SUBMISSIONS
from grader.sandbox import uids
from grader.sandbox.child import processes
from grader.exercises import PACKAGE_DIR
from grader.platforms import derive_seed

pytestmark = pytest.mark.linux

AUTOGRADER, GRADE = Path("/autograder"), Path("/grade")
SECRET = "test-secret-7"


def schema(name: str) -> dict:
    return json.loads((PACKAGE_DIR / "schemas" / f"{name}.schema.json").read_text())


def claim_fresh(root: Path) -> None:
    """Make `root` for this test, or skip if it exists: a test suite running beside this
    one may hold it. Made in one step, so that two suites never both take it as theirs."""
    if os.geteuid() != 0:
        pytest.skip("the platforms run as root; so must this test")
    try:
        root.mkdir()
    except FileExistsError:
        pytest.skip(f"{root} exists on this machine; refusing to touch it")


def with_override(text: str) -> str:
    return SOLUTION.read_text() + "\n\n" + text


@pytest.fixture(scope="module")
def autograder(tmp_path_factory):
    """Build the zip with tight limits, unpack it like Gradescope, run setup.sh."""
    claim_fresh(AUTOGRADER)
    try:
        course = tmp_path_factory.mktemp("course")
        for path in (ROOT / "exercises").glob("*.yaml"):
            shutil.copyfile(path, course / path.name)
        data = yaml.safe_load((course / "assignment.yaml").read_text())
        data["limits"] = {"exercise_seconds": 2, "total_seconds": 30}
        data["exercises"][-1]["visibility"] = "after_due_date"
        (course / "assignment.yaml").write_text(yaml.safe_dump(data))
        archive = tmp_path_factory.mktemp("build") / "autograder.zip"
        built = subprocess.run([sys.executable, "-m", "grader", "gradescope", "build", "-o",
                                str(archive), "--assignment", str(course / "assignment.yaml"),
                                "--secret", SECRET], capture_output=True, text=True)
        assert built.returncode == 0, built.stderr
        with zipfile.ZipFile(archive) as z:
            assert {"setup.sh", "run_autograder"} <= set(z.namelist())
            assert all("/" not in n for n in z.namelist())  # files at the root, not in a folder
            (AUTOGRADER / "source").mkdir()
            z.extractall(AUTOGRADER / "source")
        shutil.copyfile(AUTOGRADER / "source" / "run_autograder", AUTOGRADER / "run_autograder")
        os.chmod(AUTOGRADER / "run_autograder", 0o755)
        setup = subprocess.run(["bash", str(AUTOGRADER / "source" / "setup.sh")],
                               capture_output=True, text=True, timeout=600)
        assert setup.returncode == 0, setup.stdout + setup.stderr
        yield AUTOGRADER
    finally:
        shutil.rmtree(AUTOGRADER, ignore_errors=True)


def run_autograder(files: dict[str, str | bytes], submission_id: int | None = 77) -> dict:
    submission = AUTOGRADER / "submission"
    shutil.rmtree(submission, ignore_errors=True)
    shutil.rmtree(AUTOGRADER / "results", ignore_errors=True)
    submission.mkdir()
    for name, content in files.items():
        path = submission / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    metadata = AUTOGRADER / "submission_metadata.json"
    if submission_id is None:
        metadata.unlink(missing_ok=True)
    else:
        metadata.write_text(json.dumps({"id": submission_id, "users": [{"name": "A"}],
                                        "assignment": {"title": "HW"}}))
    # The timeout is a hang guard only: that a hang ends within the course's limits is
    # shown by the results (test_crashing_and_hanging_gates: "timed out after 2 s", every
    # other gate graded), never by how long a busy machine took.
    done = subprocess.run([str(AUTOGRADER / "run_autograder")], cwd=AUTOGRADER,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    text = (AUTOGRADER / "results" / "results.json").read_text()
    assert len(text) < 200_000
    results = json.loads(text)
    jsonschema.validate(results, schema("gradescope-results"))
    return results


def by_id(results: dict) -> dict[str, dict]:
    return {t["name"].rsplit("(", 1)[1].rstrip(")"): t for t in results["tests"]}


def test_a_correct_submission(autograder):
    results = run_autograder({"backprop.py": SOLUTION.read_text()})
    assert results["score"] == 100 and results["stdout_visibility"] == "hidden"
    assert all(t["status"] == "passed" and t["score"] == t["max_score"]
               for t in results["tests"])
    assert [t["number"] for t in results["tests"]] == [str(i) for i in range(1, 18)]
    tests = by_id(results)
    assert tests["gate_patterns"]["visibility"] == "after_due_date"
    assert tests["add"]["visibility"] == "visible"


def test_a_buggy_submission(autograder):
    results = run_autograder({"backprop.py": (ROOT / "examples/buggy_backprop.py").read_text()})
    tests = by_id(results)
    failed = sorted(k for k, t in tests.items() if t["status"] == "failed")
    assert failed == ["linear", "mul", "relu", "two_layer_net"]
    assert "swaps its inputs" in tests["mul"]["output"]
    assert results["score"] == pytest.approx(sum(t["score"] for t in results["tests"]))


@pytest.mark.parametrize("hostile, exercise, message", [
    ("segfault", "sigmoid", "crashed with SIGSEGV"),
    ("loop_forever", "mul", "timed out after 2 s"),
    ("os_exit", "max", "exited (status 0)"),
])
def test_crashing_and_hanging_gates(autograder, hostile, exercise, message):
    source = with_override((SUBMISSIONS / "hostile" / f"{hostile}.py").read_text())
    tests = by_id(run_autograder({"backprop.py": source}))
    assert tests[exercise]["score"] == 0 and message in tests[exercise]["output"]
    assert all(t["status"] == "passed" for k, t in tests.items() if k != exercise)


@pytest.mark.parametrize("source, message", [
    ("import sys\nsys.exit(0)\n", "line 2: SystemExit"),
    ("import os\nos._exit(0)\n", "line 2: stopped: the process exited"),  # skipped
    ("def add_backward(:\n", "SyntaxError at line 1"),
])
def test_a_submission_that_exits_or_breaks_at_import(autograder, source, message):
    results = run_autograder({"backprop.py": source})
    assert results["score"] == 0 and message in results["output"]


def test_tampering_changes_nothing(autograder):
    source = with_override("""
import os, time, json
def mul_backward(dout, x, y):
    forged = json.dumps({"score": 100, "tests": []})
    for path in ("/autograder/results/results.json", "/autograder/run_autograder",
                 "/autograder/source/grading.json"):
        try:
            with open(path, "a") as f:
                f.write(forged)
        except OSError:
            pass
    if os.fork() == 0:
        os.setsid()
        while True:
            try:
                with open("/autograder/results/results.json", "w") as f:
                    f.write(forged)
            except OSError:
                pass
            time.sleep(0.005)
    try:
        secret = open("/autograder/source/grading.json").read()
    except OSError as e:
        secret = type(e).__name__
    raise RuntimeError("secret: " + secret)
""")
    before = (AUTOGRADER / "run_autograder").read_bytes()
    results = run_autograder({"backprop.py": source})
    time.sleep(0.3)
    on_disk = json.loads((AUTOGRADER / "results" / "results.json").read_text())
    assert on_disk == results and results["score"] < 100
    mul = by_id(results)["mul"]
    assert "secret: FileNotFoundError" in mul["output"] and SECRET not in json.dumps(results)
    assert (AUTOGRADER / "run_autograder").read_bytes() == before
    assert processes.live_processes(uids.claim()) == []


@pytest.mark.parametrize("files, expected", [
    ({"homework.txt": "hi"}, "expected backprop.py or backprop.ipynb (or a .zip holding one); "
                             "found: homework.txt"),
    ({}, "found: nothing"),
])
def test_missing_or_misnamed_files(autograder, files, expected):
    results = run_autograder(files)
    assert results["score"] == 0 and expected in results["output"]


def test_notebooks_zips_and_other_names(autograder):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    nb = nbformat.writes(new_notebook(cells=[new_code_cell(SOLUTION.read_text())]))
    assert run_autograder({"backprop.ipynb": nb})["score"] == 100
    blob = Path("/tmp") / f"sub-{os.getpid()}.zip"
    with zipfile.ZipFile(blob, "w") as z:
        z.writestr("hw/backprop.py", SOLUTION.read_text())
    try:
        assert run_autograder({"submission.zip": blob.read_bytes()})["score"] == 100
    finally:
        blob.unlink()
    results = run_autograder({"my_backprop_final.py": SOLUTION.read_text()})
    assert results["score"] == 100 and "graded my_backprop_final.py" in results["output"]


def test_inputs_differ_per_student_and_stay_for_a_regrade(autograder):
    buggy = (ROOT / "examples/buggy_backprop.py").read_text()
    first = run_autograder({"backprop.py": buggy}, submission_id=1)
    again = run_autograder({"backprop.py": buggy}, submission_id=1)
    other = run_autograder({"backprop.py": buggy}, submission_id=2)
    strip = lambda r: [(t["name"], t["output"]) for t in r["tests"]]  # noqa: E731
    assert strip(first) == strip(again)
    assert strip(first) != strip(other)  # the hints quote case-specific shapes
    assert derive_seed(SECRET, "1") != derive_seed(SECRET, "2") != derive_seed("other", "2")


def test_results_are_written_even_when_the_grader_fails(autograder):
    exercise = next(AUTOGRADER.glob("venv/lib/python*/site-packages/grader/_data/exercises/"
                                    "mul.yaml"))
    good = exercise.read_text()
    try:
        exercise.write_text("id: mul\ntitle: [broken\n")
        results = run_autograder({"backprop.py": SOLUTION.read_text()})
    finally:
        exercise.write_text(good)
    assert results["score"] == 0 and "internal error" in results["output"]
    assert results["tests"] == []


# ---- PrairieLearn -------------------------------------------------------------------------


@pytest.fixture
def grade_tree():
    claim_fresh(GRADE)
    try:
        (GRADE / "student").mkdir()
        (GRADE / "data").mkdir()
        (GRADE / "data" / "data.json").write_text(json.dumps({"variant_seed": 12345,
                                                              "params": {}}))
        ship_secret(SECRET)
        yield GRADE
    finally:
        shutil.rmtree(GRADE, ignore_errors=True)


def ship_secret(secret: str | None) -> None:
    """What `backprop prairielearn build` writes into the course's server files."""
    shipped = GRADE / "serverFilesCourse" / "backprop" / "grading.json"
    if secret is None:
        shipped.unlink(missing_ok=True)
        return
    done = subprocess.run([sys.executable, "-m", "grader", "prairielearn", "build", "-o",
                           str(shipped), "--secret", secret], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert shipped.stat().st_mode & 0o077 == 0


def run_prairielearn(files: dict[str, str], *options: str) -> dict:
    for old in (GRADE / "student").iterdir():
        old.unlink()
    shutil.rmtree(GRADE / "results", ignore_errors=True)
    for name, content in files.items():
        (GRADE / "student" / name).write_text(content)
    done = subprocess.run([sys.executable, "-m", "grader", "prairielearn", "run", *options],
                          capture_output=True, text=True, timeout=600, cwd="/")
    assert done.returncode == 0, done.stderr  # PrairieLearn discards results otherwise
    path = GRADE / "results" / "results.json"
    assert path.stat().st_size < 1 << 20
    results = json.loads(path.read_text())
    jsonschema.validate(results, schema("prairielearn-results"))
    return results


def test_prairielearn_scores_as_a_fraction(grade_tree):
    results = run_prairielearn({"backprop.py": SOLUTION.read_text()})
    assert results["gradable"] is True and results["score"] == 1.0
    assert all({"name", "points", "max_points"} <= set(t) for t in results["tests"])
    buggy = run_prairielearn({"backprop.py": (ROOT / "examples/buggy_backprop.py").read_text()})
    assert 0 < buggy["score"] < 1
    mul = next(t for t in buggy["tests"] if t["description"] == "mul")
    assert mul["points"] < mul["max_points"] and "swaps" in mul["message"]


@pytest.mark.parametrize("files, message", [
    ({}, "expected backprop.py or backprop.ipynb"),
    ({"backprop.py": "def f(:\n"}, "SyntaxError"),
])
def test_prairielearn_does_not_count_unusable_attempts(grade_tree, files, message):
    results = run_prairielearn(files)
    assert results["gradable"] is False and message in results["message"]


def test_prairielearn_inputs_come_from_the_secret_and_the_variant(grade_tree):
    # Shows an input it was given; costs the same whatever the inputs.
    buggy = {"backprop.py": with_override("def mul_backward(dout, x, y):\n"
                                          "    raise ValueError(repr(float(x.flat[0])))\n")}
    first = run_prairielearn(buggy)
    ship_secret("another course secret")
    second = run_prairielearn(buggy)
    assert [t["output"] for t in first["tests"]] != [t["output"] for t in second["tests"]]
    assert first["score"] == second["score"]


def test_prairielearn_without_a_secret_refuses_to_grade(grade_tree):
    """Public inputs would let a table of `backprop check` answers score: no grade."""
    ship_secret(None)
    (GRADE / "student" / "backprop.py").write_text(SOLUTION.read_text())
    done = subprocess.run([sys.executable, "-m", "grader", "prairielearn", "run"],
                          capture_output=True, text=True, timeout=600, cwd="/")
    assert done.returncode == 1 and "no secret grading seed" in done.stderr
    results = json.loads((GRADE / "results" / "results.json").read_text())
    assert results["gradable"] is False and "not counted" in results["message"]
    assert "score" not in results


def test_prairielearn_survives_hostile_code(grade_tree):
    source = with_override((SUBMISSIONS / "hostile" / "segfault.py").read_text() +
                           "\nprint('x' * 10**7)\n")
    results = run_prairielearn({"backprop.py": source})
    assert results["gradable"] is True and results["score"] < 1


def test_prairielearn_grades_against_the_course_assignment(grade_tree):
    """`--assignment` in serverFilesCourse: its exercises and points, not the bundled ones;
    a missing one is an internal error that PrairieLearn does not count."""
    course = GRADE / "serverFilesCourse" / "backprop"
    for path in (ROOT / "exercises").glob("*.yaml"):
        shutil.copyfile(path, course / path.name)
    (course / "assignment.yaml").write_text(yaml.safe_dump(
        {"title": "Two gates", "exercises": [{"id": "mul", "points": 3},
                                             {"id": "relu", "points": 1}]}))
    option = ("--assignment", str(course / "assignment.yaml"))
    results = run_prairielearn({"backprop.py": with_override(
        "def relu_backward(dout, x):\n    return dout * (dout > 0)\n")}, *option)
    assert [t["description"] for t in results["tests"]] == ["mul", "relu"]
    assert results["score"] == pytest.approx(3 / 4)
    missing = run_prairielearn({"backprop.py": SOLUTION.read_text()},
                               "--assignment", str(course / "nothere.yaml"))
    assert missing["gradable"] is False and "nothere.yaml" in missing["message"]


def test_prairielearn_grades_with_a_course_pack_in_server_files(grade_tree):
    """A pack copied into serverFilesCourse and named with --pack: its student file
    (layers.py), its exercises, its pack recorded in the result."""
    pack = GRADE / "serverFilesCourse" / "cs231n"
    shutil.copytree(ROOT / "packs" / "cs231n", pack)
    solution = (pack / "solutions" / "layers.py").read_text()
    results = run_prairielearn({"layers.py": solution}, "--pack", str(pack))
    assert results["gradable"] is True and results["score"] == 1.0
    assert results["pack"]["name"] == "cs231n" and len(results["tests"]) == 17
    empty = run_prairielearn({}, "--pack", str(pack))
    assert empty["gradable"] is False and "expected layers.py or layers.ipynb" in \
        empty["message"]


def test_the_prairielearn_example_takes_either_file(grade_tree):
    """pl-file-upload requires every name in file-names: the example asks for none, offers
    both, and each file alone is graded."""
    from html.parser import HTMLParser

    found = {}

    class Upload(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag == "pl-file-upload":
                found.update(attrs)

    question = ROOT / "examples/prairielearn/questions/backprop_gates/question.html"
    Upload().feed(question.read_text())
    assert "file-names" not in found
    assert [n.strip() for n in found["optional-file-names"].split(",")] == \
        ["backprop.py", "backprop.ipynb"]
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    notebook = nbformat.writes(new_notebook(cells=[new_code_cell(SOLUTION.read_text())]))
    for files in ({"backprop.py": SOLUTION.read_text()}, {"backprop.ipynb": notebook}):
        results = run_prairielearn(files)
        assert results["gradable"] is True and results["score"] == 1.0, files.keys()


def test_the_autograder_installs_the_versions_it_was_built_with(autograder):
    """setup.sh installs requirements.lock: numpy and the rest at the builder's versions."""
    import importlib.metadata

    lock = (autograder / "source" / "requirements.lock").read_text().split()
    assert f"numpy=={importlib.metadata.version('numpy')}" in lock
    assert any(line.startswith("jsonschema==") for line in lock)
    venv_numpy = subprocess.run([str(autograder / "venv" / "bin" / "python"), "-c",
                                 "import numpy; print(numpy.__version__)"],
                                capture_output=True, text=True)
    assert venv_numpy.stdout.strip() == importlib.metadata.version("numpy")
    assert "requirements.lock" in (autograder / "source" / "setup.sh").read_text()
