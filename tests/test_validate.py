"""`backprop validate`: every bad exercise file is named with its file, exercise and field."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, run_cli

EXERCISES = ROOT / "exercises"
DEFAULT_IDS = ["add", "mul", "max", "exp", "reciprocal", "scale", "offset", "sigmoid", "relu",
               "relu_jacobian", "linear", "softmax_ce", "two_layer_net", "backprop", "simple_graph",
               "sigmoid_neuron", "gate_patterns"]


def test_bundled_exercises_are_valid():
    result = run_cli("validate")
    assert result.exit_code == 0, result.output
    assert "valid" in result.output


def test_default_assignment_has_the_design_ids():
    assignment = yaml.safe_load((EXERCISES / "assignment.yaml").read_text())
    assert [e["id"] for e in assignment["exercises"]] == DEFAULT_IDS
    assert sum(e["points"] for e in assignment["exercises"]) == 100


def test_the_lecture_pack_imports_only_the_authoring_api_which_imports_nothing_of_grader():
    from grader.packcheck import grader_imports

    for path in (ROOT / "reference").glob("*.py"):
        assert grader_imports(path) <= {"grader.authoring"}, path
    assert grader_imports(ROOT / "grader" / "authoring.py") == set()


def write_exercise(tmp_path: Path, text: str, name: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


GRAPH = """\
id: {name}
title: A graph
kind: graph
graph:
  inputs: {{x: 2, y: 3}}
  nodes:
{nodes}
  output: f
expected:
  grads: {{x: 3, y: 2}}
"""


@pytest.mark.parametrize("nodes, field, message", [
    ("    f: {op: mull, args: [x, y]}", "graph.nodes.f.op", "unknown op 'mull'"),
    ("    f: {op: mul, args: [x, z]}", "graph.nodes.f.args", "missing input 'z'"),
    ("    g: {op: add, args: [f, x]}\n    f: {op: mul, args: [g, y]}", "graph.nodes",
     "cycle"),
    ("    f: {op: mul, args: [x]}", "graph.nodes.f.args", "takes 2 input(s)"),
    ("    f: {op: scale, args: [x]}", "graph.nodes.f", "takes parameters: c"),
    ("    f: {op: softmax_ce, args: [x, y]}", "graph.nodes.f.args",
     "'y' is where softmax_ce takes integer class labels"),
])
def test_bad_graphs_are_named(tmp_path, nodes, field, message):
    path = write_exercise(tmp_path, GRAPH.format(name="g1", nodes=nodes), "g1")
    result = run_cli("validate", path)
    assert result.exit_code == 2
    assert str(path) in result.stderr and "exercise 'g1'" in result.stderr
    assert f"field '{field}'" in result.stderr and message in result.stderr


def test_shape_mismatch_is_named(tmp_path):
    text = """\
id: shapes
title: Shapes
kind: graph
graph:
  inputs: {x: [[1, 2, 3]], w: [[1, 2], [3, 4]]}
  nodes:
    y: {op: matmul, args: [x, w]}
  output: y
expected:
  grads: {x: [[1, 2, 3]]}
"""
    result = run_cli("validate", write_exercise(tmp_path, text, "shapes"))
    assert result.exit_code == 2
    assert "field 'graph.nodes.y'" in result.stderr and "(1, 3), (2, 2)" in result.stderr


def test_wrong_expected_number_is_caught_against_the_reference(tmp_path):
    text = GRAPH.format(name="wrong", nodes="    f: {op: mul, args: [x, y]}").replace(
        "grads: {x: 3, y: 2}", "grads: {x: 3, y: 2.5}")
    result = run_cli("validate", write_exercise(tmp_path, text, "wrong"))
    assert result.exit_code == 2
    assert "field 'expected.grads.y'" in result.stderr and "disagrees with the reference" in \
        result.stderr


@pytest.mark.parametrize("text, field, message", [
    ("id: g\ntitle: G\nkind: gate\ngate: mull\nfunction: f\nchecks: {values: 1}\n", "gate",
     "unknown op 'mull'"),
    ("id: g\ntitle: G\nkind: gate\ngate: mul\nfunction: f\nchecks: {valuez: 1}\n", "checks",
     "valuez"),
    ("id: g\ntitle: G\nkind: gate\ngate: mul\nfunction: f\nchecks: {values: 1}\ncolour: 1\n",
     None, "colour"),
    ("id: g\ntitle: G\nkind: gate\ngate: linear\nfunction: f\nchecks: {scalar: 1}\n",
     "checks.scalar", "not elementwise"),
    ("id: g\ntitle: G\nkind: wizard\n", "kind", "wizard"),
    ("id: g\ntitle: [unclosed\n", None, "not valid YAML at line"),
])
def test_schema_and_meaning_problems(tmp_path, text, field, message):
    result = run_cli("validate", write_exercise(tmp_path, text, "g"))
    assert result.exit_code == 2
    assert message in result.stderr
    if field:
        assert f"field '{field}'" in result.stderr


def test_assignment_naming_a_missing_exercise(tmp_path):
    folder = tmp_path / "course"
    shutil.copytree(EXERCISES, folder)
    (folder / "assignment.yaml").write_text(
        "title: T\nexercises:\n  - {id: mul, points: 5}\n  - {id: nothere, points: 5}\n")
    result = run_cli("validate", folder)
    assert result.exit_code == 2
    assert "exercise 'nothere'" in result.stderr and "no exercise file" in result.stderr
    check = run_cli("check", ROOT / "tests/submissions/solution.py", "--assignment",
                    folder / "assignment.yaml")
    assert check.exit_code == 2 and "nothere" in check.output


def test_a_custom_assignment_grades_with_its_own_points(tmp_path):
    folder = tmp_path / "course"
    shutil.copytree(EXERCISES, folder)
    (folder / "assignment.yaml").write_text(
        "title: T\nexercises:\n  - {id: mul, points: 2}\n  - {id: relu, points: 3}\n")
    result = run_cli("check", ROOT / "examples/buggy_backprop.py", "--assignment",
                     folder / "assignment.yaml", "--json")
    import json
    report = json.loads(result.stdout)
    assert report["max_score"] == 5 and [e["id"] for e in report["exercises"]] == ["mul", "relu"]


def test_validate_says_what_it_checked_for_any_path(tmp_path):
    """An assignment under any file name is recognised, and its exercises are checked
    with it; a path that names nothing is an error, never "0 exercise(s) valid"."""
    folder = tmp_path / "course"
    shutil.copytree(EXERCISES, folder)
    (folder / "assignment.yaml").rename(folder / "hw3.yaml")
    result = run_cli("validate", folder / "hw3.yaml")
    assert result.exit_code == 0, result.output
    assert "hw3.yaml: assignment 'Backpropagation', 17 exercises, 100 points" in result.output
    assert "17 exercise(s) valid" in result.output
    for target, message in ((tmp_path / "nothere.yaml", "no such file or folder"),
                            ("nothere", "not a file, a folder or a bundled exercise id"),
                            (tmp_path / "empty", "a folder with no .yaml files")):
        (tmp_path / "empty").mkdir(exist_ok=True)
        missing = run_cli("validate", target)
        assert missing.exit_code == 2 and message in missing.stderr, missing.output


def test_a_graph_that_asks_for_arrays_is_refused_before_check_crashes_on_it(tmp_path):
    """The student answers one number per name: an array-valued gradient asked of a worked
    example is a validation error, not a crash of `check` later."""
    text = (GRAPH.format(name="g2", nodes="    p: {op: mul, args: [x, y]}\n"
                                          "    f: {op: sum, args: [p]}")
            .replace("{x: 2, y: 3}", "{x: [1.0, 2.0], y: [3.0, -1.0]}")
            .replace("grads: {x: 3, y: 2}", "grads: {x: [3.0, -1.0]}") + "ask: [x]\n")
    path = write_exercise(tmp_path, text, "g2")
    result = run_cli("validate", path)
    assert result.exit_code == 2, result.output
    assert "field 'ask'" in result.stderr and "'x' has shape (2,)" in result.stderr
