"""`backprop check --save-cases DIR` and the checking tools written into the template: a
student can rerun every failing public case at home, with no grader import."""

from __future__ import annotations

import importlib.util
import io
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, SOLUTION, SUBMISSIONS, compose, header, run_cli

from reference import OPS

TEMPLATE = ROOT / "student_template" / "backprop.py"
GATE_EXERCISES = {"add", "mul", "max", "exp", "reciprocal", "scale", "offset", "sigmoid",
                  "relu", "linear", "softmax_ce"}
BAD_GATES = sorted(p for p in (SUBMISSIONS / "bad").glob("*.py")
                   if header(p)["exercise"] in GATE_EXERCISES)


def load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tools():
    """The template itself: its tools are plain functions of the student's own file."""
    return load(TEMPLATE, "template_tools")


def rerun(tools, case: Path, backward, forward) -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        try:
            tools.check_case(str(case), backward, forward)
        except Exception as e:  # noqa: BLE001 - the saved case reproduces a crash at home
            print(f"raised {type(e).__name__}: {e}")
    return out.getvalue()


def errors(text: str) -> list[float]:
    """The relative errors check_case printed (a shape mismatch counts as 1)."""
    return [float(line.rsplit(" ", 1)[1]) if "relative error" in line else 1.0
            for line in text.splitlines()]


@pytest.mark.parametrize("path", BAD_GATES, ids=lambda p: p.stem)
def test_each_failing_case_is_saved_and_reruns_at_home(path, tools, tmp_path):
    submission = compose(tmp_path, path)
    cases = tmp_path / "cases"
    result = run_cli("check", submission, "--save-cases", cases)
    assert result.exit_code == 1
    exercise = header(path)["exercise"]
    saved = sorted(cases.glob("*.npz"))
    assert saved and {p.name.split("-")[0] for p in saved} <= {exercise, "two_layer_net"}
    assert f'check_case("{cases / saved[0].name}"'.split("-")[0] in result.stderr
    student = load(submission, f"student_{path.stem}")
    for case in (p for p in saved if p.name.startswith(f"{exercise}-")):
        arrays = np.load(case)
        backward = getattr(student, f"{exercise}_backward")
        # Only what the function was given, named as its arguments: never an answer.
        gate = OPS[exercise]
        assert arrays.files == ["dout", *gate.inputs, *gate.param_names]
        forward = getattr(tools, f"{exercise}_forward")
        assert max(errors(rerun(tools, case, backward, forward))) > 1e-4, case.name
        right = getattr(load(SOLUTION, "solution_for_cases"), f"{exercise}_backward")
        assert max(errors(rerun(tools, case, right, forward))) < 1e-6, case.name


def test_nothing_to_save_when_every_check_passes(tmp_path):
    result = run_cli("check", SOLUTION, "--save-cases", tmp_path / "cases", "--only", "mul")
    assert result.exit_code == 0 and "no failing case to save" in result.stderr
    assert not list((tmp_path / "cases").glob("*"))


def test_a_crash_is_saved_with_the_shapes_that_crashed_it(tmp_path):
    crash = "def exp_backward(dout, x):\n    return dout * float(x)\n"
    cases = tmp_path / "cases"
    result = run_cli("check", compose(tmp_path, crash), "--save-cases", cases, "--only", "exp")
    saved = {p.name: np.load(p) for p in cases.glob("*.npz")}
    assert result.exit_code == 1 and saved
    assert any(case["x"].ndim > 0 for case in saved.values())  # float() fails on these


def test_the_json_report_stays_clean_when_cases_are_saved(tmp_path):
    result = run_cli("check", ROOT / "examples" / "buggy_backprop.py", "--json",
                     "--save-cases", tmp_path / "cases")
    import json

    assert json.loads(result.stdout)["score"] < 100 and "saved" in result.stderr


def test_the_forward_tools_agree_with_the_reference(tools):
    """The template's forwards are the lecture's gates: checked against the reference."""
    rng = np.random.default_rng(4)
    for name in GATE_EXERCISES:
        gate = OPS[name]
        inputs = [rng.uniform(0.5, 2.0, size=(3, 4)) for _ in gate.inputs]
        if name == "linear":
            inputs = [rng.normal(size=(3, 4)), rng.normal(size=(4, 2)), rng.normal(size=2)]
        if name == "softmax_ce":
            inputs = [rng.normal(size=(5, 3)), np.array([0, 2, 1, 1, 0])]
        params = [1.7] * len(gate.params)
        mine = getattr(tools, f"{name}_forward")(*inputs, *params)
        assert np.allclose(mine, gate.forward(*inputs, *params)), name


def test_the_template_command_writes_the_tools(tmp_path):
    assert run_cli("template", tmp_path / "hw").exit_code == 0
    text = (tmp_path / "hw" / "backprop.py").read_text()
    assert "def check_case(" in text and "def numerical_gradient(" in text
    assert "import grader" not in text and "import reference" not in text
    notebook = (tmp_path / "hw" / "backprop.ipynb").read_text()
    assert "def check_case(" in notebook
