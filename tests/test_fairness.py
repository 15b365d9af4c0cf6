"""Fair, stable verdicts: a score is a function of the mistake, not of the random cases or
of the submission's identity, and structure without the math earns nothing."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import SOLUTION, SUBMISSIONS, check_json, compose, run_cli, scores

BAD = sorted((SUBMISSIONS / "bad").glob("*.py"))
SEEDS = range(5)  # 5 batches of every mistake: about 20 s


@pytest.fixture(scope="module")
def bad_class(tmp_path_factory):
    """Every known-bad submission as one student of a class."""
    folder = tmp_path_factory.mktemp("class")
    for path in BAD:
        (folder / f"{path.stem}.py").write_text(SOLUTION.read_text() + "\n\n" +
                                                path.read_text())
    return folder


def test_every_mistake_scores_the_same_at_every_seed(bad_class, tmp_path):
    totals: dict[str, set[float]] = {}
    for seed in SEEDS:
        out = tmp_path / f"seed{seed}"
        assert run_cli("grade", bad_class, "-o", out, "--seed", seed, "-j", "2").exit_code == 0
        for line in (out / "journal.jsonl").read_text().splitlines():
            record = json.loads(line)
            totals.setdefault(record["student"], set()).add(record["report"]["score"])
    moving = {name: sorted(found) for name, found in totals.items() if len(found) > 1}
    assert len(totals) == len(BAD) and moving == {}, moving


def test_the_same_mistake_scores_the_same_on_every_platform_identity(tmp_path):
    """On Gradescope the inputs come from the submission id: resubmitting the same code
    must not change the grade."""
    path = compose(tmp_path, SUBMISSIONS / "bad" / "relu_clamped.py")
    seen = set()
    for identity in ("1001", "1002", "1003", "1004", "1005"):
        tree = tmp_path / identity
        (tree / "submission").mkdir(parents=True)
        (tree / "source").mkdir()
        shutil.copyfile(path, tree / "submission" / "backprop.py")
        (tree / "source" / "grading.json").write_text('{"secret": "course"}')
        (tree / "submission_metadata.json").write_text(json.dumps({"id": int(identity)}))
        assert run_cli("gradescope", "run", "--root", tree).exit_code == 0
        seen.add(json.loads((tree / "results" / "results.json").read_text())["score"])
    assert len(seen) == 1, seen


NO_MATH = {  # answers that know no derivative, for each gate they fake
    "upstream broadcast": {
        "mul": "def mul_backward(dout, x, y):\n    return dout + 0 * x, dout + 0 * y\n",
        "relu": "def relu_backward(dout, x):\n    return dout.copy()\n",
        "exp": "def exp_backward(dout, x):\n    return dout.copy()\n",
        "sigmoid": "def sigmoid_backward(dout, x):\n    return dout.copy()\n"},
    "sign error": {
        "mul": "def mul_backward(dout, x, y):\n    return -dout * y, -dout * x\n",
        "reciprocal": "def reciprocal_backward(dout, x):\n    return dout / x ** 2\n"},
    "nan": {
        "exp": "import numpy as np\ndef exp_backward(dout, x):\n"
               "    out = dout * np.exp(x)\n    out.flat[0] = np.nan\n    return out\n"},
}


@pytest.mark.parametrize("kind", sorted(NO_MATH))
def test_structure_without_the_math_earns_nothing(kind, tmp_path):
    for exercise, source in NO_MATH[kind].items():
        report, _ = check_json(compose(tmp_path, source), "--only", exercise)
        assert scores(report)[exercise][0] == 0, (kind, exercise, report["exercises"][0])
