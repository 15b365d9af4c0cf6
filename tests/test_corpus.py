"""Known-bad submissions lose points on their own exercise only, with the right hint;
known-good variants keep full marks over many seeds."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import SUBMISSIONS, check_json, compose, header, scores

BAD = sorted((SUBMISSIONS / "bad").glob("*.py"))
GOOD = sorted((SUBMISSIONS / "good").glob("*.py"))
GOOD_SEEDS = range(20)


def test_corpus_sizes():
    assert len(BAD) >= 30 and len(GOOD) >= 10


def test_solution_gets_full_marks(tmp_path):
    report, code = check_json(compose(tmp_path, ""))
    assert code == 0
    assert report["score"] == report["max_score"] == 100


@pytest.mark.parametrize("bad", BAD, ids=lambda p: p.stem)
def test_known_bad_loses_points_on_its_own_exercise_only(bad: Path, tmp_path):
    meta = header(bad)
    report, code = check_json(compose(tmp_path, bad))
    assert code == 1
    for exercise_id, (score, max_score) in scores(report).items():
        if exercise_id == meta["exercise"]:
            assert score < max_score, f"{bad.stem} was not caught"
        else:
            assert score == max_score, f"{bad.stem} lost points on {exercise_id}"
    net = next(e for e in report["exercises"] if e["id"] == "two_layer_net")
    if meta["exercise"] in ("linear", "relu", "softmax_ce") and net["status"] != "passed":
        # The diagnostic net runs the student's own gates: it points at the one at fault.
        assert any(f"fix the {meta['exercise']} exercise first" in h for h in net["hints"]), \
            net["hints"]
    (mine,) = [e for e in report["exercises"] if e["id"] == meta["exercise"]]
    assert any(meta["hint"] in h for h in mine["hints"]), mine["hints"]


@pytest.mark.parametrize("good", GOOD, ids=lambda p: p.stem)
def test_known_good_keeps_full_marks_over_many_seeds(good: Path, tmp_path):
    exercises = header(good)["exercises"].split()
    submission = compose(tmp_path, good)
    only = [arg for ex in exercises for arg in ("--only", ex)]
    for seed in GOOD_SEEDS:
        report, code = check_json(submission, "--seed", str(seed), *only)
        lost = {k: v for k, v in scores(report).items() if v[0] != v[1]}
        assert code == 0 and not lost, (seed, lost, [e["hints"] for e in report["exercises"]])
