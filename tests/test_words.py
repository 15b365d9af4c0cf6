"""The words guide a novice: every total says these are the public checks, untouched stubs
read "not started" with where to begin, a misspelled function gets a "did you mean", a
course with variants warns who forgot --student, and --help separates the student's
commands from the staff's."""

from __future__ import annotations

import shutil

import yaml

from conftest import ROOT, compose, run_cli

TEMPLATE = ROOT / "student_template" / "backprop.py"


def test_every_terminal_total_says_these_are_the_public_checks():
    output = run_cli("check", ROOT / "examples" / "buggy_backprop.py").output
    total = next(line for line in output.splitlines() if line.strip().startswith("total"))
    assert "public checks; your grade comes from the course's run" in total


def test_untouched_stubs_read_not_started_with_a_first_step():
    output = run_cli("check", TEMPLATE).output
    add = next(line for line in output.splitlines() if line.strip().startswith("add "))
    assert "not started" in add and "failed" not in add
    assert "Start with add" in output
    partly = run_cli("check", ROOT / "examples" / "buggy_backprop.py").output
    assert "not started" not in partly and "Start with" not in partly


def test_a_misspelled_function_gets_a_did_you_mean(tmp_path):
    path = compose(tmp_path, "")
    path.write_text(path.read_text().replace("def relu_backward(", "def relu_backwards("))
    output = run_cli("check", path, "--only", "relu").output
    assert "did you mean relu_backwards? the grader calls relu_backward" in output


def test_a_course_with_variants_warns_without_student(tmp_path):
    folder = tmp_path / "course"
    shutil.copytree(ROOT / "exercises", folder)
    data = yaml.safe_load((folder / "assignment.yaml").read_text())
    data["policy"] = {"variant_seed": 7}
    (folder / "assignment.yaml").write_text(yaml.safe_dump(data))
    course = folder / "assignment.yaml"
    solution = compose(tmp_path, "")
    assert "--student YOUR_ID" in run_cli("check", solution, "--assignment", course).output
    mine = run_cli("check", solution, "--assignment", course, "--student", "ada@uni.edu")
    assert "--student YOUR_ID" not in mine.output


def test_help_separates_student_and_staff_commands():
    text = run_cli("--help").output
    students, staff = text.index("For students:"), text.index("For course staff and TAs:")
    assert students < text.index("  check ") < staff < text.index("  grade ")


PRINTS = """
_mul = mul_backward
def mul_backward(dout, x, y):
    print("debug mul", x.shape)
    return _mul(dout, x, y)

def exp_backward(dout, x):
    for i in range(100):
        print("line", i)
    raise ValueError("oops")
"""


def test_what_the_functions_print_is_shown_per_exercise_and_capped(tmp_path):
    import json

    path = compose(tmp_path, PRINTS)
    report = json.loads(run_cli("check", path, "--json", "--only", "mul", "--only", "exp",
                                "--only", "add").stdout)
    printed = {e["id"]: e["printed"] for e in report["exercises"]}
    assert "debug mul (" in printed["mul"] and printed["add"] == ""
    assert printed["exp"].startswith("line 0\nline 1") and "more characters)" in printed["exp"]
    assert len(printed["exp"].splitlines()) <= 21
    table = run_cli("check", path, "--only", "mul").output
    assert "Printed by your functions" in table and "| debug mul (" in table


def test_a_crash_says_how_the_function_was_called(tmp_path):
    import json

    crash = "def exp_backward(dout, x):\n    return np.array([dout[0], x])\n"
    report = json.loads(run_cli("check", compose(tmp_path, crash), "--json", "--only",
                                "exp").stdout)
    (exp,) = report["exercises"]
    assert "[called exp_backward(dout: shape (" in exp["hints"][0] and "float64" in exp["hints"][0]
    scalar = "def exp_backward(dout, x):\n    return dout * np.exp(x) + x.shape[0]\n"
    report = json.loads(run_cli("check", compose(tmp_path, scalar), "--json", "--only",
                                "exp").stdout)
    messages = " | ".join(c["message"] for c in report["exercises"][0]["checks"])
    assert "x: shape () float64 = " in messages  # the 0-d case, with its value
