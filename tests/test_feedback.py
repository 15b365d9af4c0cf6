"""Feedback that teaches: graphs drawn like the lecture, per-student variants, and the
composition exercise."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, check_json, compose, run_cli


def test_show_draws_values_above_gradients_like_the_lecture():
    result = run_cli("show", "sigmoid_neuron", "--answers")  # staff: a graded example
    assert result.exit_code == 0
    assert "0.73 / 1.00" in result.output  # the output wire: value 0.73, gradient 1
    assert "g = offset(f, c=1)" in result.output and "1.37 / -0.53" in result.output
    assert "x0" in result.output and "-1.00 / 0.39" in result.output
    staged = run_cli("show", "staged_computation").output
    assert "(Σ 2.06)" in staged and "(Σ 1.59)" in staged  # fan-out: the paths add up


def test_show_hands_out_no_answers_of_graded_examples():
    for fmt in ("text", "dot"):
        shown = run_cli("show", "sigmoid_neuron", "--format", fmt).output
        assert "0.73" in shown and "--answers" in shown
        assert "-0.53" not in shown and "0.39" not in shown and "-0.20" not in shown
    assert "gradient" not in run_cli("show", "simple_graph").output.splitlines()[2]


def test_show_formats_and_errors(tmp_path):
    dot = run_cli("show", "simple_graph", "--format", "dot", "--answers").output
    assert dot.startswith("digraph backprop") and '"q" -> "f"' in dot and "-4.00" in dot
    assert run_cli("show", "mul").exit_code == 2
    missing = run_cli("show", "nope")
    assert missing.exit_code == 2 and "simple_graph" in missing.output
    if shutil.which("dot"):
        assert run_cli("show", "simple_graph", "--format", "svg", "-o",
                       tmp_path / "g.svg").exit_code == 0
        assert (tmp_path / "g.svg").read_text().lstrip().startswith("<")
    else:
        result = run_cli("show", "simple_graph", "--format", "svg")
        assert result.exit_code == 1 and "Graphviz" in result.output


def test_a_wrong_worked_example_says_which_answers_are_wrong_not_the_numbers(tmp_path):
    report, _ = check_json(compose(tmp_path, 'SIMPLE_GRAPH_GRADS = {"x": -4, "y": -4, '
                                              '"z": -3}'), "--only", "simple_graph")
    hint = report["exercises"][0]["hints"][0]
    assert "dz: yours -3 ✗" in hint and "dx: yours -4 ✓" in hint
    assert "true" not in hint and " 3" not in hint.replace("-3", "")
    assert "z enters f = mul(q, z)" in hint  # the gate and its idea, never the sign


def test_with_reveal_answers_the_true_numbers_stand_beside_them(tmp_path):
    folder = tmp_path / "course"
    shutil.copytree(ROOT / "exercises", folder)
    data = yaml.safe_load((folder / "assignment.yaml").read_text())
    data["policy"] = {"reveal": "answers"}
    (folder / "assignment.yaml").write_text(yaml.safe_dump(data))
    report, _ = check_json(compose(tmp_path, 'SIMPLE_GRAPH_GRADS = {"x": -4, "y": -4, '
                                              '"z": -3}'), "--only", "simple_graph",
                           "--assignment", folder / "assignment.yaml")
    hint = report["exercises"][0]["hints"][0]
    assert "dz: yours -3, true 3 ✗" in hint and "dx: yours -4, true -4 ✓" in hint


@pytest.fixture
def course_with_variants(tmp_path) -> Path:
    folder = tmp_path / "course"
    shutil.copytree(ROOT / "exercises", folder)
    data = yaml.safe_load((folder / "assignment.yaml").read_text())
    data["policy"] = {"variant_seed": 2024}
    (folder / "assignment.yaml").write_text(yaml.safe_dump(data))
    return folder / "assignment.yaml"


def test_each_student_gets_their_own_worked_example_numbers(course_with_variants, tmp_path):
    from grader import cases
    from grader.exercises import load_assignment

    ada = run_cli("variant", "--student", "ada@uni.edu", "--assignment", course_with_variants)
    bob = run_cli("variant", "--student", "bob@uni.edu", "--assignment", course_with_variants)
    assert ada.exit_code == 0 and ada.output != bob.output
    assert "gradient" not in ada.output  # the numbers to start from, not the answers
    assert ada.output == run_cli("variant", "--student", " ADA@uni.edu ", "--assignment",
                                 course_with_variants).output
    # A student who answers from their own variant gets full marks, with the same identity.
    assignment = load_assignment(course_with_variants)
    ex = assignment.get("simple_graph")
    drawn = cases.variant_inputs(ex, "ada@uni.edu", 2024)
    graph = ex.graph()
    grads = graph.backward(graph.forward(ex.graph_inputs(drawn)))
    answer = {k: float(grads[k]) for k in ("x", "y", "z")}
    path = compose(tmp_path, f"SIMPLE_GRAPH_GRADS = {answer!r}")
    mine, _ = check_json(path, "--only", "simple_graph", "--assignment", course_with_variants,
                         "--student", "ada@uni.edu")
    theirs, _ = check_json(path, "--only", "simple_graph", "--assignment",
                           course_with_variants, "--student", "bob@uni.edu")
    lecture, _ = check_json(path, "--only", "simple_graph", "--assignment",
                            course_with_variants)
    assert mine["score"] == 4 and theirs["score"] < 4 and lecture["score"] < 4
    without = run_cli("variant", "--student", "ada@uni.edu")
    assert "lecture's numbers for everyone" in without.output


def test_variants_are_never_saturated_or_tied():
    from grader import cases
    from grader.exercises import load_assignment

    assignment = load_assignment()
    for exercise_id in ("simple_graph", "sigmoid_neuron", "gate_patterns"):
        ex = assignment.get(exercise_id)
        graph = ex.graph()
        for student in range(60):
            drawn = cases.variant_inputs(ex, f"s{student}@uni.edu", 7)
            values = graph.forward(ex.graph_inputs(drawn))
            grads = graph.backward(values)
            assert graph.kink_distance(values) > cases.KINK_MARGIN
            assert all(float(grads[k]) == 0 or abs(float(grads[k])) > 0.07
                       for k in ex.spec["ask"])


def test_the_net_charges_each_mistake_to_its_gate(tmp_path):
    source = "def relu_backward(dout, x):\n    return dout * (dout > 0)\n"
    report, _ = check_json(compose(tmp_path, source), "--only", "relu", "--only",
                           "two_layer_net")
    net = next(e for e in report["exercises"] if e["id"] == "two_layer_net")
    failed = [c["name"] for c in net["checks"] if not c["passed"]]
    assert "your relu_backward inside the net (fed the true upstream)" in failed
    assert "your linear_backward for layer 2 (fed the true upstream)" not in failed
    assert "your softmax_ce_backward inside the net (fed the true upstream)" not in failed
    assert any("fix the relu exercise first" in h for h in net["hints"])


def test_sgd_with_wrong_updates_does_not_lower_the_loss(tmp_path):
    source = ("_right = linear_backward\n"
              "def linear_backward(dout, x, w, b):\n"
              "    dx, dw, db = _right(dout, x, w, b)\n"
              "    return dx, -dw, -db\n")
    report, _ = check_json(compose(tmp_path, source), "--only", "two_layer_net")
    sgd = next(c for c in report["exercises"][0]["checks"] if "SGD" in c["name"])
    assert not sgd["passed"] and "the loss went from" in sgd["message"]
    good, code = check_json(compose(tmp_path, ""), "--only", "two_layer_net")
    assert code == 0 and "loss" in next(c["message"] for c in good["exercises"][0]["checks"]
                                        if "SGD" in c["name"])


def test_the_authoring_guide_examples_validate_and_grade(tmp_path):
    result = run_cli("validate", ROOT / "examples" / "exercises")
    assert result.exit_code == 0, result.output
    folder = tmp_path / "course"
    shutil.copytree(ROOT / "examples" / "exercises", folder)
    (folder / "assignment.yaml").write_text(
        "title: Extra\nexercises:\n  - {id: tanh, points: 5}\n"
        "  - {id: logistic_loss, points: 4}\ndefaults:\n  graph_tolerance: {atol: 0.015}\n")
    solution = tmp_path / "extra.py"
    solution.write_text("import numpy as np\n\ndef tanh_backward(dout, x):\n"
                        "    return dout * (1 - np.tanh(x) ** 2)\n\n"
                        "LOGISTIC_LOSS_GRADS = {'w': -0.27, 'x': -0.54, 'b': -0.27}\n")
    report, code = check_json(solution, "--assignment", folder / "assignment.yaml")
    assert code == 0 and report["score"] == 9
