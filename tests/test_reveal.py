"""Feedback reveals what the course allows (`policy.reveal` in assignment.yaml): by default
the name of the mistake and the lecture idea, never a formula a student could paste back;
the formula only with `reveal: formula` (or `answers`)."""

from __future__ import annotations

import shutil

import pytest
import yaml

from conftest import ROOT, SUBMISSIONS, check_json, compose, header

# mistake → the idea the hint names → the formula it may state only when allowed
TABLE = [
    ("mul_swapped", "the multiply gate swaps its inputs", "dx = dout * y"),
    ("relu_mask_from_upstream", "mask is taken from the upstream", "dout * (x > 0)"),
    ("relu_clamped", "the gradient is clamped", "dout * (x > 0)"),
    ("relu_inverted_mask", "the mask is inverted", "dout * (x > 0)"),
    ("reciprocal_wrong_power", "power rule is misapplied", "-1/x**2"),
    ("sigmoid_from_input", "taken from the input", "s * (1 - s)"),
    ("sigmoid_missing_factor", "sigmoid(x) alone", "s * (1 - s)"),
    ("exp_wrong_local", "used where exp's output belongs", "dx = dout * np.exp(x)"),
    ("offset_times_c", "does not belong in the gradient of x + c", "local gradient is 1"),
    ("softmax_no_minus_one", "-1 at the label is missing", "subtract 1 from the probability"),
    ("softmax_minus_one_everywhere", "applied to every class", "subtract 1 only at the label"),
    ("exp_sign_flipped", "sign inside the exponent is flipped", "dx = dout * np.exp(x)"),
    ("scale_times_input", "used where the constant belongs", "dx = dout * c"),
    ("softmax_label_columns", "(p[:, y])", "p[np.arange(N), y] -= 1"),
]


@pytest.fixture(scope="module")
def courses(tmp_path_factory) -> dict[str, str]:
    made = {}
    for reveal in ("mistakes", "formula", "answers"):
        folder = tmp_path_factory.mktemp(reveal)
        shutil.copytree(ROOT / "exercises", folder, dirs_exist_ok=True)
        data = yaml.safe_load((folder / "assignment.yaml").read_text())
        data["policy"] = {"reveal": reveal}
        (folder / "assignment.yaml").write_text(yaml.safe_dump(data))
        made[reveal] = str(folder / "assignment.yaml")
    return made


@pytest.mark.parametrize("mistake, idea, formula", TABLE, ids=[t[0] for t in TABLE])
def test_hints_name_the_mistake_and_keep_the_formula_unless_allowed(mistake, idea, formula,
                                                                   courses, tmp_path):
    path = SUBMISSIONS / "bad" / f"{mistake}.py"
    exercise = header(path)["exercise"]
    submission = compose(tmp_path, path)
    hidden, _ = check_json(submission, "--only", exercise, "--assignment", courses["mistakes"])
    hints = " | ".join(hidden["exercises"][0]["hints"])
    assert idea in hints and formula not in hints, hints
    shown, _ = check_json(submission, "--only", exercise, "--assignment", courses["formula"])
    assert formula in " | ".join(shown["exercises"][0]["hints"])


def test_the_default_assignment_reveals_no_formula(tmp_path):
    report, _ = check_json(ROOT / "examples" / "buggy_backprop.py")
    hints = " | ".join(h for e in report["exercises"] for h in e["hints"])
    assert "dout * y" not in hints and "dout * (x > 0)" not in hints


# worked example -> what only `reveal: answers` may add: how it is wrong, the true numbers
WORKED = [
    ("simple_graph_sign", ["it has the wrong sign", "dz: yours -3, true 3 ✗"]),
    ("gate_patterns_loser", ["look swapped", "dw: yours 2, true 0 ✗"]),
    ("sigmoid_neuron_forgot_chain", ["times the true one", "true -0.1966"]),
]


@pytest.mark.parametrize("mistake, details", WORKED, ids=[w[0] for w in WORKED])
def test_worked_examples_name_the_gate_and_keep_numbers_and_signs_unless_allowed(
        mistake, details, courses, tmp_path):
    path = SUBMISSIONS / "bad" / f"{mistake}.py"
    exercise, idea = header(path)["exercise"], header(path)["hint"]
    submission = compose(tmp_path, path)
    for reveal in ("mistakes", "formula"):  # a formula is not an answer
        report, _ = check_json(submission, "--only", exercise, "--assignment", courses[reveal])
        hints = " | ".join(report["exercises"][0]["hints"])
        assert idea in hints and "✗" in hints, hints
        assert not [d for d in details + ["sign", "swapped", "times the true", "true "]
                    if d in hints], hints
    shown, _ = check_json(submission, "--only", exercise, "--assignment", courses["answers"])
    hints = " | ".join(shown["exercises"][0]["hints"])
    assert idea in hints and all(d in hints for d in details), hints
