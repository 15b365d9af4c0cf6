"""The grade that counts cannot be computed at home: every grade-counting run uses secret
inputs (a batch's own secret, the Gradescope and PrairieLearn build's secret), mixed with
the student's identity; a table of the public answers of `backprop check` earns them
nothing there."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil

import numpy as np
import pytest

from conftest import SOLUTION, class_folder, run_cli
from grader.exercises import load_assignment
from grader.grading import plan_assignment

LOOKUP = '''
import hashlib
import numpy as np

TABLE = {table}


def _key(name, args):
    digest = hashlib.sha256(name.encode())
    for a in args:
        digest.update(np.asarray(a, dtype=float).tobytes())
    return digest.hexdigest()


def _gate(name):
    def backward(*args):
        found = TABLE.get(_key(name, args))
        if found is None:  # not a public case: no idea
            return tuple(np.zeros_like(a) for a in args if isinstance(a, np.ndarray)) \\
                if name in ("add_backward", "mul_backward", "max_backward",
                            "linear_backward") else np.zeros_like(args[1 if len(args) > 1 else 0])
        arrays = [np.array(o) for o in found]
        return arrays[0] if len(arrays) == 1 else tuple(arrays)
    return backward


for _name in {names}:
    globals()[_name] = _gate(_name)
'''


def _key(name: str, args: list) -> str:
    digest = hashlib.sha256(name.encode())
    for a in args:
        digest.update(np.asarray(a, dtype=float).tobytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def lookup_table(tmp_path_factory):
    """A submission built at home with the installed grader: the correct answer of every
    public case of `backprop check`, looked up by its inputs; it knows no derivative."""
    spec = importlib.util.spec_from_file_location("solution", SOLUTION)
    solution = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(solution)
    table, names = {}, set()
    for _, probes, _ in plan_assignment(load_assignment(), 0):
        for probe in probes:
            call = probe.call
            if call.form not in ("array", "arrays") or not call.args:
                continue
            out = getattr(solution, call.function)(*call.args)
            out = out if isinstance(out, tuple) else (out,)
            table[_key(call.function, call.args)] = [np.asarray(o).tolist() for o in out]
            names.add(call.function)
    answers = "".join(f"{name} = {getattr(solution, name)!r}\n" for name in (
        "SIMPLE_GRAPH_GRADS", "SIGMOID_NEURON_GRADS", "GATE_PATTERNS_GRADS"))
    path = tmp_path_factory.mktemp("lookup") / "backprop.py"
    path.write_text(LOOKUP.format(table=repr(table), names=sorted(names)) + answers)
    return path


def _public_score(submission) -> float:
    result = run_cli("check", submission, "--json")
    return json.loads(result.stdout)["score"]


def test_the_table_scores_on_the_public_seed(lookup_table):
    assert _public_score(lookup_table) >= 60  # the attack is real


def test_a_batch_draws_a_secret_keeps_it_and_the_table_loses(lookup_table, tmp_path):
    students = class_folder(tmp_path, mallory=lookup_table, alice=SOLUTION, bob=SOLUTION)
    out = tmp_path / "graded"
    assert run_cli("grade", students, "-o", out, "-j", "1").exit_code == 0
    secret = out / ".grading-secret"
    assert secret.stat().st_mode & 0o077 == 0
    records = {json.loads(line)["student"]: json.loads(line)["report"]
               for line in (out / "journal.jsonl").read_text().splitlines()}
    assert records["mallory"]["score"] <= _public_score(lookup_table) - 40
    assert records["alice"]["score"] == records["bob"]["score"] == 100
    seeds = {name: r["seed"] for name, r in records.items()}
    assert len(set(seeds.values())) == 3 and 0 not in seeds.values()  # per student
    (feedback,) = (out / "feedback").glob("mallory*.md")
    assert "seed" not in feedback.read_text()
    before = (out / "gradebook.csv").read_text()
    assert run_cli("grade", students, "-o", out, "--force", "-j", "1").exit_code == 0
    assert (out / "gradebook.csv").read_text() == before  # the kept secret: same inputs


def test_a_batch_with_a_seed_is_reproducible_and_says_so(tmp_path):
    students = class_folder(tmp_path, alice=SOLUTION)
    out = tmp_path / "graded"
    assert run_cli("grade", students, "-o", out, "--seed", "7").exit_code == 0
    assert not (out / ".grading-secret").exists()
    record = json.loads((out / "journal.jsonl").read_text().splitlines()[0])
    assert record["report"]["seed"] == 7


def test_gradescope_and_prairielearn_grade_the_table_on_secret_inputs(lookup_table,
                                                                       tmp_path):
    public = _public_score(lookup_table)
    tree = tmp_path / "autograder"
    (tree / "submission").mkdir(parents=True)
    shutil.copyfile(lookup_table, tree / "submission" / "backprop.py")
    (tree / "source").mkdir()
    (tree / "source" / "grading.json").write_text('{"secret": "course secret"}')
    (tree / "submission_metadata.json").write_text('{"id": 42}')
    assert run_cli("gradescope", "run", "--root", tree).exit_code == 0
    gradescope = json.loads((tree / "results" / "results.json").read_text())["score"]
    grade = tmp_path / "grade"
    (grade / "student").mkdir(parents=True)
    shutil.copyfile(lookup_table, grade / "student" / "backprop.py")
    (grade / "data").mkdir()
    (grade / "data" / "data.json").write_text('{"variant_seed": 77}')
    assert run_cli("prairielearn", "build", "-o",
                   grade / "serverFilesCourse" / "backprop" / "grading.json").exit_code == 0
    assert run_cli("prairielearn", "run", "--root", grade).exit_code == 0
    prairielearn = json.loads((grade / "results" / "results.json").read_text())["score"]
    assert gradescope <= public - 40 and prairielearn * 100 <= public - 40


def test_gradescope_without_a_secret_refuses(tmp_path):
    tree = tmp_path / "autograder"
    (tree / "submission").mkdir(parents=True)
    shutil.copyfile(SOLUTION, tree / "submission" / "backprop.py")
    result = run_cli("gradescope", "run", "--root", tree)
    assert result.exit_code == 1, result.output
    results = json.loads((tree / "results" / "results.json").read_text())
    assert results["score"] == 0 and "no secret grading seed" in results["output"]
