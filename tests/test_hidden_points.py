"""Students never see hidden points: every total a student sees counts only the exercises
shown to them — the batch feedback's score and final grade line (with late penalties and
staff corrections), Gradescope's output and PrairieLearn's score and message — so the
points of an exercise not shown yet cannot be read off a difference. Staff outputs keep
the full totals. Everything through the command line, one table row per case."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, check_json, class_folder, run_cli

BUGGY = ROOT / "examples" / "buggy_backprop.py"  # right on softmax_ce, wrong elsewhere
HIDDEN = "softmax_ce"  # hidden in every course here: 12 points to leak
LATE = {"due": "2000-01-01T00:00:00+00:00", "per_day": 10, "max_penalty": 50,
        "use_file_times": True}  # every file is late: half the raw score off


def course(folder: Path, late: dict | None = None) -> Path:
    """The bundled course with `HIDDEN` hidden."""
    shutil.copytree(ROOT / "exercises", folder)
    data = yaml.safe_load((folder / "assignment.yaml").read_text())
    for entry in data["exercises"]:
        if entry["id"] == HIDDEN:
            entry["visibility"] = "hidden"
    if late:
        data["late"] = late
    (folder / "assignment.yaml").write_text(yaml.safe_dump(data))
    return folder / "assignment.yaml"


def shown_total(report: dict) -> tuple[float, float]:
    """(score, max) of the exercises shown, from the staff's whole report."""
    kept = [e for e in report["exercises"] if e["id"] != HIDDEN]
    return round(sum(e["score"] for e in kept), 4), sum(e["max_score"] for e in kept)


def totals(text: str) -> list[tuple[float, float]]:
    """Every "X / Y" a text states."""
    return [(float(x), float(y)) for x, y in re.findall(r"(\d+(?:\.\d+)?) / (\d+(?:\.\d+)?)",
                                                       text.replace("*", ""))]


def _rounded(pairs: list[tuple[float, float]]) -> set[tuple[float, float]]:
    return {(round(x, 2), round(y, 2)) for x, y in pairs}


# (what the staff did, overrides.csv rows, late policy, the student's final grade from
# the shown score and the whole grade)
CORRECTIONS = [
    ("nothing", [], None, lambda shown, whole: shown),
    ("points on the hidden exercise", [("ann", HIDDEN, "-3", "regraded")], None,
     lambda shown, whole: shown),
    ("a bonus on the total", [("ann", "total", "+2", "bonus")], None,
     lambda shown, whole: shown + 2),
    ("a total set by staff", [("ann", "total", "60", "appeal")], None,
     lambda shown, whole: shown + 60 - (whole["raw"] - whole["penalty"])),
    ("a late penalty", [], LATE, lambda shown, whole: shown - round(shown / 2, 4)),
]


@pytest.mark.parametrize("what, overrides, late, final", CORRECTIONS,
                         ids=[row[0] for row in CORRECTIONS])
def test_batch_feedback_counts_only_what_is_shown(what, overrides, late, final, tmp_path):
    assignment = course(tmp_path / "course", late)
    out = tmp_path / "out"
    out.mkdir()
    with open(out / "overrides.csv", "w", newline="") as f:
        csv.writer(f).writerows([("student", "exercise", "points", "reason"), *overrides])
    result = run_cli("grade", class_folder(tmp_path, ann=BUGGY), "-o", out, "--assignment",
                     assignment, "-j", "1")
    assert result.exit_code == 0, result.output
    (student,) = json.loads((out / "results.json").read_text())["students"]
    whole = student["grade"]
    score, most = shown_total(student["report"])
    expected = round(final(score, whole), 4)
    (mine,) = (out / "feedback").glob("ann*.md")
    text = mine.read_text()
    assert _rounded(totals(text)) == _rounded([(score, most), (expected, most)]), text
    assert f"`{HIDDEN}`" not in text and "regraded" not in text
    (staff,) = (out / "feedback-staff").glob("ann*.md")
    assert (whole["final"], 100) in totals(staff.read_text())
    with open(out / "gradebook.csv", newline="") as f:
        (row,) = csv.DictReader(f)
    assert float(row["total"]) == whole["final"] and float(row["max_score"]) == 100


def gradescope_tree(root: Path, monkeypatch, assignment: Path) -> dict:
    """`gradescope run` on a tree like /autograder, its zip built with `assignment`."""
    import grader.exercises

    for sub in ("submission", "source", "results"):
        (root / sub).mkdir(parents=True)
    shutil.copyfile(BUGGY, root / "submission" / "backprop.py")
    (root / "source" / "grading.json").write_text('{"secret": "s"}')
    monkeypatch.setattr(grader.exercises, "default_assignment_path", lambda: assignment)
    assert run_cli("gradescope", "run", "--root", root).exit_code == 0
    return json.loads((root / "results" / "results.json").read_text())


def prairielearn_tree(root: Path, monkeypatch, assignment: Path) -> dict:
    """`prairielearn run` on a tree like /grade, against `assignment`."""
    for sub in ("student", "serverFilesCourse/backprop", "results", "data"):
        (root / sub).mkdir(parents=True)
    shutil.copyfile(BUGGY, root / "student" / "backprop.py")
    (root / "serverFilesCourse" / "backprop" / "grading.json").write_text('{"secret": "s"}')
    (root / "data" / "data.json").write_text('{"variant_seed": "7"}')
    done = run_cli("prairielearn", "run", "--root", root, "--assignment", assignment)
    assert done.exit_code == 0, done.output
    return json.loads((root / "results" / "results.json").read_text())


def _gradescope_seen(results: dict) -> tuple[list[tuple[float, float]], list[dict]]:
    """(totals the student reads, the tests they see: Gradescope hides the others)."""
    return totals(results["output"]), [t for t in results["tests"]
                                       if t["visibility"] == "visible"]


def _prairielearn_seen(results: dict) -> tuple[list[tuple[float, float]], list[dict]]:
    """PrairieLearn shows every test it gets, and the score as a fraction of them."""
    most = sum(t["max_points"] for t in results["tests"])
    return totals(results["message"]) + [(results["score"] * most, most)], results["tests"]


def _staff_total(results: dict) -> float:
    """What the platform records as the grade (Gradescope hides it from students while a
    test is hidden)."""
    return results["score"]


# (platform, run on a real tree, what the student sees, the whole grade kept for staff or
# None where nothing is staff-only)
PLATFORMS = [
    ("gradescope", gradescope_tree, _gradescope_seen, _staff_total),
    ("prairielearn", prairielearn_tree, _prairielearn_seen, None),
]


@pytest.mark.parametrize("platform, run, seen, staff", PLATFORMS,
                         ids=[row[0] for row in PLATFORMS])
def test_platform_output_counts_only_what_is_shown(platform, run, seen, staff, tmp_path,
                                                   monkeypatch):
    assignment = course(tmp_path / "course")
    report, _ = check_json(BUGGY, "--assignment", assignment)
    score, most = shown_total(report)  # every seed gives a mistake the same score
    assert report["score"] != score  # the hidden exercise has points to leak
    results = run(tmp_path / platform, monkeypatch, assignment)
    stated, tests = seen(results)
    assert stated and _rounded(stated) == _rounded([(score, most)]), stated
    assert sum(t.get("score", t.get("points")) for t in tests) == pytest.approx(score)
    assert not [t for t in tests if t.get("description") == HIDDEN or
                t["name"].endswith(f"({HIDDEN})")]
    if staff is not None:
        assert staff(results) == pytest.approx(report["score"])
