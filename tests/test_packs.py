"""Course packs, used as course staff and students use them: through the CLI, on real
folders (the minimal example pack, the CS231n pack, and broken packs made here)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT, header, run_cli

MINIMAL = ROOT / "examples" / "minimal_pack"
CS231N = ROOT / "packs" / "cs231n"
CS231N_SOLUTION = CS231N / "solutions" / "layers.py"
BUGGY = sorted((CS231N / "buggy").glob("*.py"))


def check(submission: Path, *args) -> tuple[dict, int]:
    result = run_cli("check", submission, "--json", *args)
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout), result.exit_code


def by_id(report: dict) -> dict[str, dict]:
    return {e["id"]: e for e in report["exercises"]}


# ---- the example pack a course copies -----------------------------------------------------


def test_the_minimal_pack_is_proved_by_validate():
    result = run_cli("validate", MINIMAL)
    assert result.exit_code == 0, result.output
    assert "pack 'minimal' 1.0.0" in result.stdout and "1 op(s)" in result.stdout


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_a_pack_solution_keeps_full_marks_and_reports_its_pack(seed):
    report, code = check(MINIMAL / "solutions" / "leaky.py", "--pack", MINIMAL, "--seed", seed)
    assert code == 0 and report["score"] == 10
    assert report["pack"]["name"] == "minimal" and report["pack"]["version"] == "1.0.0"
    assert by_id(report)["leaky_relu"]["functions"] == ["leaky_relu_backward"]


def test_an_assignment_inside_a_pack_finds_its_pack(tmp_path):
    report, _ = check(MINIMAL / "solutions" / "leaky.py", "--assignment",
                      MINIMAL / "assignment.yaml")
    assert report["pack"]["name"] == "minimal" and report["score"] == 10


def test_a_generic_hint_names_a_mistake_the_pack_never_declared(tmp_path):
    """The mask of a kinked op taken from dout: no pack signature, the engine's own."""
    source = (MINIMAL / "solutions" / "leaky.py").read_text() + textwrap.dedent("""
        def leaky_relu_backward(dout, x, alpha):
            return dout * np.where(dout > 0, 1.0, alpha)
        """)
    path = tmp_path / "leaky.py"
    path.write_text(source)
    for seed in range(4):
        report, _ = check(path, "--pack", MINIMAL, "--seed", seed)
        (hint,) = by_id(report)["leaky_relu"]["hints"]
        assert "takes its mask from the upstream gradient" in hint


def test_the_pack_is_hidden_from_the_submission(tmp_path):
    """Pack code is staff code: the child cannot read the pack's folder in any tier."""
    source = textwrap.dedent(f"""
        import numpy as np

        def leaky_relu_backward(dout, x, alpha):
            try:
                open({str(MINIMAL / 'ops.py')!r}).read()
                return dout * 0 + 12345.0  # it could read the answer key
            except OSError:
                return dout * np.where(x > 0, 1.0, alpha)
        """)
    path = tmp_path / "leaky.py"
    path.write_text(source)
    report, _ = check(path, "--pack", MINIMAL)
    assert report["score"] == 10


# ---- packs that are wrong say so, and never crash -------------------------------------


def make_pack(tmp_path: Path, ops: str, exercise: str | None = None, pack_extra: str = "",
              solution: str | None = None, buggy: dict[str, str] | None = None) -> Path:
    pack = tmp_path / "pack"
    shutil.copytree(MINIMAL, pack)
    (pack / "ops.py").write_text(textwrap.dedent(ops))
    if exercise is not None:
        (pack / "exercises" / "leaky_relu.yaml").write_text(textwrap.dedent(exercise))
    if pack_extra:
        with open(pack / "pack.yaml", "a") as f:
            f.write(pack_extra)
    if solution is not None:
        (pack / "solutions" / "leaky.py").write_text(textwrap.dedent(solution))
    for name, text in (buggy or {}).items():
        (pack / "buggy" / name).write_text(textwrap.dedent(text))
    return pack


def validate_problems(pack: Path) -> str:
    result = run_cli("validate", pack)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return result.stderr


LEAKY = (MINIMAL / "ops.py").read_text()


def test_a_reference_that_gives_nan_fails_validate(tmp_path):
    ops = LEAKY.replace("alpha * x)", "alpha * x) * np.log(alpha - 1)")
    assert "nan or inf" in validate_problems(make_pack(tmp_path, ops))


def test_unsatisfiable_constraints_are_reported_not_crashed(tmp_path):
    ops = LEAKY.replace('@OPS.op(inputs={"x": "..."},',
                        '@OPS.op(inputs={"x": "N D"}, dims={"N": (2, 3)}, '
                        'constraints=["N > 5"],')
    errors = validate_problems(make_pack(tmp_path, ops, exercise="""\
        id: leaky_relu
        title: Leaky
        kind: gate
        gate: leaky_relu
        function: leaky_relu_backward
        checks: {values: 1}
        """))
    assert "satisfy its constraints" in errors and "N > 5" in errors


def test_a_backward_that_disagrees_with_the_forward_fails_validate(tmp_path):
    ops = LEAKY.replace("backward=lambda dout, x, alpha: dout * np.where(x > 0, 1.0, alpha)",
                        "backward=lambda dout, x, alpha: dout * np.where(x > 0, 1.0, 2 * alpha)")
    assert "disagrees with central differences" in validate_problems(make_pack(tmp_path, ops))


def test_an_import_error_in_the_ops_names_its_line(tmp_path):
    ops = LEAKY.replace("OPS = Ops()", "OPS = Ops()\nundefined_name + 1")
    errors = validate_problems(make_pack(tmp_path, ops))
    assert "NameError" in errors and "ops.py line" in errors


def test_a_pack_may_import_only_the_authoring_api(tmp_path):
    ops = "from grader.judging import within\n" + LEAKY
    assert "a pack imports only grader.authoring" in validate_problems(make_pack(tmp_path, ops))


def test_a_signature_equal_to_the_truth_is_refused(tmp_path):
    ops = LEAKY.replace("lambda dout, x, alpha: dout * np.where(x > 0, 1.0, 1.0)",
                        "lambda dout, x, alpha: dout * np.where(x > 0, 1.0, alpha)")
    assert "gives the true gradient on every case" in validate_problems(make_pack(tmp_path, ops))


def test_a_buggy_file_the_cases_do_not_catch_is_reported(tmp_path):
    pack = make_pack(tmp_path, LEAKY, buggy={"harmless.py": """\
        # exercise: leaky_relu
        # hint: anything
        def leaky_relu_backward(dout, x, alpha):
            return dout * np.where(x > 0, 1.0, alpha) + 0.0
        """})
    assert "keeps full marks" in validate_problems(pack)


def test_a_broken_pack_yaml_is_named_with_its_field(tmp_path):
    pack = make_pack(tmp_path, LEAKY, pack_extra="colour: blue\n")
    assert "field 'colour': unexpected field" in validate_problems(pack)
    result = run_cli("check", MINIMAL / "solutions" / "leaky.py", "--pack", pack)
    assert result.exit_code == 2 and "colour" in result.output


def test_an_unsupported_grader_version_is_refused(tmp_path):
    pack = make_pack(tmp_path, LEAKY)
    text = (pack / "pack.yaml").read_text().replace('grader: ">=0.1"', 'grader: ">=9"')
    (pack / "pack.yaml").write_text(text)
    assert "supports grader versions >=9" in validate_problems(pack)


def test_pack_names_that_are_neither_folders_nor_installed_are_usage_errors(tmp_path):
    result = run_cli("check", MINIMAL / "solutions" / "leaky.py", "--pack", "no-such-pack")
    assert result.exit_code == 2 and "no installed pack of that name" in result.output
    result = run_cli("check", MINIMAL / "solutions" / "leaky.py", "--pack", tmp_path)
    assert result.exit_code == 2 and "not a course pack" in result.output


def test_an_installed_pack_is_found_by_its_entry_point_name(tmp_path):
    """A pack that pip installed: an entry point in the group backprop_grader.packs."""
    site = tmp_path / "site"
    shutil.copytree(MINIMAL, site / "leakypack")
    (site / "leakypack" / "__init__.py").write_text("")
    info = site / "leakypack-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: leakypack\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[backprop_grader.packs]\nleaky = leakypack\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    done = subprocess.run([sys.executable, "-m", "grader", "check", "--json", "--pack", "leaky",
                           str(MINIMAL / "solutions" / "leaky.py")], capture_output=True,
                          text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["pack"]["name"] == "minimal"


# ---- the CS231n pack: its acceptance test ------------------------------------------------


@pytest.mark.parametrize("solution", sorted((CS231N / "solutions").glob("*.py")),
                         ids=lambda p: p.stem)
@pytest.mark.parametrize("seed", [0, 5])
def test_cs231n_solutions_keep_full_marks(solution, seed):
    report, code = check(solution, "--pack", "cs231n", "--seed", seed)
    assert code == 0, [(e["id"], e["hints"]) for e in report["exercises"] if e["hints"]]


@pytest.mark.parametrize("path", BUGGY, ids=lambda p: p.stem)
def test_each_cs231n_mistake_costs_its_exercise_with_its_hint(path, tmp_path):
    fields = header(path)
    submission = tmp_path / "layers.py"
    submission.write_text(CS231N_SOLUTION.read_text() + "\n\n" + path.read_text())
    report, _ = check(submission, "--pack", CS231N, "--seed", 3)
    exercises = by_id(report)
    mine = exercises[fields["exercise"]]
    assert mine["score"] < mine["max_score"]
    assert any(fields["hint"].lower() in h.lower() for h in mine["hints"]), mine["hints"]
    allowed = {fields["exercise"], *(e.strip() for e in fields.get("also", "").split(",") if e)}
    assert all(e["score"] == e["max_score"] for e in report["exercises"]
               if e["id"] not in allowed)


def test_a_students_cs231n_folder_is_graded_by_its_layers_py(tmp_path):
    """The assignment's own folder, as handed in: layers.py among its other modules."""
    folder = tmp_path / "cs231n"
    folder.mkdir()
    shutil.copyfile(CS231N_SOLUTION, folder / "layers.py")
    (folder / "layer_utils.py").write_text("from .layers import *\n\n"
                                           "def affine_relu_forward(x, w, b):\n    pass\n")
    (folder / "gradient_check.py").write_text("def eval_numerical_gradient(f, x):\n    pass\n")
    report, code = check(folder, "--pack", "cs231n")
    assert code == 0 and report["submission"] == "layers.py"
    result = run_cli("check", tmp_path / "empty", "--pack", "cs231n")
    assert result.exit_code == 2 and "does not exist" in result.output
    (tmp_path / "empty").mkdir()
    result = run_cli("check", tmp_path / "empty", "--pack", "cs231n")
    assert result.exit_code == 2 and "holds no layers.py or layers.ipynb" in result.output


def test_cs231n_cache_exercises_name_both_functions_they_judge():
    report, _ = check(CS231N_SOLUTION, "--pack", "cs231n", "--only", "affine_backward")
    assert by_id(report)["affine_backward"]["functions"] == ["affine_backward",
                                                             "affine_forward"]


def test_a_backward_on_a_wrong_forwards_cache_says_to_fix_the_forward(tmp_path):
    submission = tmp_path / "layers.py"
    submission.write_text(CS231N_SOLUTION.read_text() + "\n\n" +
                          (CS231N / "buggy" / "batchnorm_unbiased_variance.py").read_text())
    report, _ = check(submission, "--pack", "cs231n", "--only", "batchnorm_backward")
    (hint, *_) = by_id(report)["batchnorm_backward"]["hints"]
    assert "fix batchnorm_forward first" in hint


def test_the_cs231n_template_starts_every_exercise_not_started(tmp_path):
    result = run_cli("template", tmp_path, "--pack", "cs231n")
    assert result.exit_code == 0 and "--pack cs231n" in result.stdout
    for name in ("layers.py", "layers.ipynb"):
        report, code = check(tmp_path / name, "--pack", "cs231n")
        assert code == 1 and report["score"] == 0 and report["not_run"] == []
        assert {e["hints"][0] for e in report["exercises"]} == {"not implemented yet"}
    notebook = nbformat.read(tmp_path / "layers.ipynb", as_version=4)
    assert "use_pack('cs231n')" in notebook.cells[1].source


def test_the_gradescope_autograder_carries_the_pack(tmp_path):
    """The zip's wheel holds the pack (not its solutions) and grades with it."""
    archive = tmp_path / "autograder.zip"
    result = run_cli("gradescope", "build", "-o", archive, "--pack", CS231N, "--secret", "s")
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(archive) as z:
        z.extractall(tmp_path / "source")
    (wheel,) = (tmp_path / "source").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "grader/_data/exercises/ops.py" in names
    assert "grader/_data/exercises/exercises/conv_backward_naive.yaml" in names
    assert not [n for n in names if "solutions/" in n or "buggy/" in n]
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(site), str(wheel)], check=True, capture_output=True)
    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    shutil.copyfile(CS231N_SOLUTION, root / "submission" / "layers.py")
    (root / "source").mkdir()
    shutil.copyfile(tmp_path / "source" / "grading.json", root / "source" / "grading.json")
    done = subprocess.run([sys.executable, "-m", "grader", "gradescope", "run", "--root",
                           str(root)], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(site)})
    assert done.returncode == 0, done.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == 100 and results["extra_data"]["pack"]["name"] == "cs231n"


# ---- in every sandbox tier ---------------------------------------------------------------


from test_tiers import ENVIRONMENTS, place, run_grader, ta  # noqa: E402,F401

PEEKING = """

def relu_backward(dout, cache):  # full marks only if the pack's code cannot be read
    for path in {paths!r}:
        try:
            open(path).read()
            return dout * 0 + 12345.0
        except OSError:
            pass
    return dout * (cache > 0)
"""


@pytest.mark.linux
@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_a_pack_grades_and_stays_hidden_in_every_tier(env, place, request):
    """The cache convention runs in the child of every tier, and the pack (its folder, its
    ops, its solutions) is out of the submission's reach there, like the grader's files."""
    pack = place / "cs231n"
    shutil.copytree(CS231N, pack)
    submission = place / "layers.py"
    secrets = [str(pack / "ops.py"), str(pack / "solutions" / "layers.py"),
               str(pack / "pack.yaml")]
    submission.write_text(CS231N_SOLUTION.read_text() + PEEKING.format(paths=secrets))
    os.chmod(submission, 0o644)
    done = run_grader(env, ["check", submission, "--json", "--pack", pack], request)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["score"] == 100 and report["confinement"]["tier"] == env

