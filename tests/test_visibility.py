"""Visibility is one rule applied everywhere: an exercise that is hidden (or shown only
after the due date or after publishing) contributes nothing visible before its time —
no hint, check message, score or total that includes it — in the Gradescope tests and
output, the PrairieLearn results, the batch feedback files, and composed exercises that
reuse its gate. Staff still see everything."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from conftest import ROOT, class_folder, run_cli

BUGGY = ROOT / "examples" / "buggy_backprop.py"  # keepdims in linear, relu mask from dout
LEAKS = ("keepdims", "db has shape", "fix the linear exercise", "db1 has shape")


@pytest.fixture
def course(tmp_path):
    folder = tmp_path / "course"
    shutil.copytree(ROOT / "exercises", folder)
    data = yaml.safe_load((folder / "assignment.yaml").read_text())
    for entry in data["exercises"]:
        if entry["id"] == "linear":
            entry["visibility"] = "hidden"
    (folder / "assignment.yaml").write_text(yaml.safe_dump(data))
    return folder


def _no_leak(text: str) -> None:
    assert not any(leak in text for leak in LEAKS), text


def test_gradescope_keeps_a_hidden_gate_out_of_visible_tests_and_the_total(course):
    from grader.exercises import load_assignment
    from grader.grading import derive_seed, grade
    from grader.platforms import gradescope_results

    report = grade(BUGGY, load_assignment(course / "assignment.yaml"), derive_seed("s", "1"))
    results = gradescope_results(report, None, None, 1.0)
    tests = {t["name"].rsplit("(", 1)[1].rstrip(")"): t for t in results["tests"]}
    assert tests["linear"]["visibility"] == "hidden"  # Gradescope hides it, staff see it
    assert "keepdims" in tests["linear"]["output"]
    for name, test in tests.items():
        if test.get("visibility") == "visible":
            _no_leak(test["output"])
    assert tests["two_layer_net"]["visibility"] == "visible"
    assert "not shown yet" in tests["two_layer_net"]["output"]
    assert "relu exercise first" in tests["two_layer_net"]["output"]  # visible gates: told
    _no_leak(results["output"])
    shown = report.max_score - report.exercises[[r.exercise.id for r in
                                                 report.exercises].index("linear")].exercise.points
    assert f"/ {shown:g} " in results["output"] and "/ 100" not in results["output"]
    assert results["score"] == report.score  # the grade itself counts everything


def test_prairielearn_emits_no_hidden_exercise(course):
    from grader.exercises import load_assignment
    from grader.grading import grade
    from grader.platforms import prairielearn_results

    report = grade(BUGGY, load_assignment(course / "assignment.yaml"), 5)
    results = prairielearn_results(report, None)
    assert "linear" not in {t["description"] for t in results["tests"]}
    _no_leak(json.dumps({k: v for k, v in results.items() if k != "confinement"}))
    shown = [r for r in report.exercises if r.exercise.id != "linear"]
    assert results["score"] == pytest.approx(sum(r.score for r in shown) /
                                             sum(r.exercise.points for r in shown))


def test_batch_feedback_shows_students_only_what_is_shown_staff_everything(course,
                                                                          tmp_path):
    students = class_folder(tmp_path, ann=BUGGY)
    out = tmp_path / "out"
    assert run_cli("grade", students, "-o", out, "--assignment",
                   course / "assignment.yaml", "-j", "1").exit_code == 0
    (mine,) = (out / "feedback").glob("ann*.md")
    text = mine.read_text()
    _no_leak(text)
    assert "`linear`" not in text and "/ 88**" in text  # 100 minus linear's 12 points
    (staff,) = (out / "feedback-staff").glob("ann*.md")
    assert "keepdims" in staff.read_text() and "/ 100**" in staff.read_text()


def test_without_unshown_exercises_nothing_changes(tmp_path):
    students = class_folder(tmp_path, ann=BUGGY)
    out = tmp_path / "out"
    assert run_cli("grade", students, "-o", out, "-j", "1").exit_code == 0
    assert not (out / "feedback-staff").exists()
    (mine,) = (out / "feedback").glob("ann*.md")
    assert "keepdims" in mine.read_text()
