"""`backprop check`: the student's command, through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, SOLUTION, check_json, compose, run_cli, scores

TEMPLATE = ROOT / "student_template" / "backprop.py"
STATUSES = {"passed", "partial", "failed", "error"}


def test_template_is_the_contract_with_nothing_solved(tmp_path):
    report, code = check_json(TEMPLATE)
    assert code == 1 and report["score"] == 0 and report["error"] is None
    for ex in report["exercises"]:
        assert ex["status"] == "failed"
        if ex["id"] not in ("simple_graph", "sigmoid_neuron", "gate_patterns"):
            assert ex["hints"] == ["not implemented yet"], ex
        else:
            assert "not filled in yet" in ex["hints"][0]


def test_json_report_follows_the_contract(tmp_path):
    report, _ = check_json(ROOT / "examples" / "buggy_backprop.py", "--seed", "3")
    assert list(report) == ["submission", "seed", "score", "max_score", "elapsed_s", "error",
                            "exercises", "confinement", "notes", "not_run", "pack"]
    assert report["pack"]["name"] == "lecture" and len(report["pack"]["hash"]) == 12
    assert report["confinement"]["tier"] in ("full", "container", "user", "unconfined")
    assert report["confinement"]["layers"] and report["confinement"]["description"]
    assert report["submission"] == "buggy_backprop.py" and report["seed"] == 3
    assert report["score"] == pytest.approx(sum(e["score"] for e in report["exercises"]))
    for ex in report["exercises"]:
        assert list(ex) == ["id", "title", "score", "max_score", "status", "functions",
                            "checks", "hints", "printed"]
        assert ex["status"] in STATUSES and 0 <= ex["score"] <= ex["max_score"]
        for check in ex["checks"]:
            assert list(check) == ["name", "passed", "message"]
            assert isinstance(check["passed"], bool) and isinstance(check["message"], str)
    functions = {e["id"]: e["functions"] for e in report["exercises"]}
    assert functions["mul"] == ["mul_backward"] and functions["simple_graph"] == [
        "SIMPLE_GRAPH_GRADS"]
    assert set(functions["two_layer_net"]) == {"linear_backward", "relu_backward",
                                                "softmax_ce_backward"}
    statuses = {e["id"]: e["status"] for e in report["exercises"]}
    # Wrong math earns nothing, structure aside: the three mistaken gates score 0.
    assert statuses["mul"] == statuses["relu"] == statuses["linear"] == "failed"


def test_same_seed_same_report_and_seeds_change_the_cases(tmp_path):
    first, _ = check_json(ROOT / "examples" / "buggy_backprop.py", "--seed", "5")
    second, _ = check_json(ROOT / "examples" / "buggy_backprop.py", "--seed", "5")
    first.pop("elapsed_s"), second.pop("elapsed_s")
    assert first == second
    other, _ = check_json(ROOT / "examples" / "buggy_backprop.py", "--seed", "6")
    other.pop("elapsed_s")
    assert other["exercises"] != first["exercises"]  # the hints quote case-specific shapes


def test_only_grades_the_named_exercises(tmp_path):
    report, code = check_json(SOLUTION, "--only", "relu", "--only", "mul")
    assert code == 0 and [e["id"] for e in report["exercises"]] == ["mul", "relu"]
    assert report["max_score"] == 5 + 8  # mul and relu's points in assignment.yaml


def test_table_shows_score_status_and_first_hint():
    result = run_cli("check", ROOT / "examples" / "buggy_backprop.py")
    assert result.exit_code == 1
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.strip()}
    assert "failed" in lines["mul"] and "swaps its inputs" in result.output
    assert "5/5" in lines["add"] and "passed" in lines["add"]
    assert "total" in lines and "/100" in lines["total"]


@pytest.mark.parametrize("args, message", [
    (["nothere.py"], "does not exist"),
    (["--only", "nope"], "no exercise 'nope'"),
    (["--seed", "-1"], "seed"),
])
def test_usage_errors_exit_2(args, message):
    result = run_cli("check", *(args if args[0] != "--only" and args[0] != "--seed"
                                else [SOLUTION, *args]))
    assert result.exit_code == 2 and message in result.output


def test_a_typo_gets_did_you_mean(tmp_path):
    path = compose(tmp_path, "")
    result = run_cli("check", tmp_path / "backprpo.py")
    assert result.exit_code == 2 and f"does not exist; did you mean {path}?" in result.output
    result = run_cli("check", path, "--only", "relu_jacobain")
    assert result.exit_code == 2 and "did you mean relu_jacobian?" in result.output
    assert "did you mean" not in run_cli("check", tmp_path / "essay.py").output


def test_folder_submission_and_default_name(tmp_path, monkeypatch):
    compose(tmp_path, "")
    report, code = check_json(tmp_path)
    assert code == 0 and report["submission"] == "backprop.py"
    monkeypatch.chdir(tmp_path)
    assert run_cli("check", "--only", "add").exit_code == 0
    (tmp_path / "notes.txt").write_text("x")
    assert "not a .py, .ipynb, .zip or folder" in run_cli("check", tmp_path / "notes.txt").output
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_cli("check", empty)
    assert result.exit_code == 2 and "holds no backprop.py or backprop.ipynb" in result.output


MUL = "def mul_backward(dout, x, y):\n    return dout * y, dout * x\n"


@pytest.mark.parametrize("source, expected", [
    ("import numpy as np\ndef add_backward(dout, x, y)\n    return dout, dout\n",
     "line 2: SyntaxError at line 2 (expected ':'), so this block was left out"),
    ("import numpy as np\nundefined_name + 1\n", "line 2: NameError: name 'undefined_name'"),
    ("raise RuntimeError('boom at import')\n", "line 1: RuntimeError: boom at import"),
    ("import sys\nsys.exit(0)\n", "line 2: SystemExit: 0"),
    ("import numpyy\n", "line 1: ModuleNotFoundError: No module named 'numpyy'"),
    ("assert 1 + 1 == 3, 'my own test'\n", "line 1: AssertionError: my own test"),
    ("name = input('your name? ')\n", "line 1: EOFError"),
    ("import os\nos._exit(3)\n", "line 2: stopped: the process exited (status 3)"),
])
def test_a_failing_top_level_statement_costs_only_what_depends_on_it(write, source,
                                                                      expected):
    """Like a notebook's failing cell: skipped and listed, the rest graded."""
    result = run_cli("check", write(source + MUL), "--json", "--only", "mul")
    assert result.exit_code == 0 and "Traceback" not in result.output
    report = json.loads(result.stdout)
    assert report["error"] is None and report["score"] == report["max_score"]
    table = run_cli("check", write(source + MUL), "--only", "mul").output
    assert expected in table and ("if __name__ == " in table or "left out" in table), table


@pytest.mark.parametrize("source, expected", [
    ("import torch\n", "imports torch, which this course forbids"),
])
def test_a_submission_that_cannot_be_imported_gets_a_clean_report(write, source, expected):
    result = run_cli("check", write(source + MUL), "--json")
    assert result.exit_code == 1 and "Traceback" not in result.output
    report = json.loads(result.stdout)
    assert expected in report["error"], report["error"]
    assert report["score"] == 0
    assert all(e["status"] == "error" and e["hints"] == [report["error"]]
               for e in report["exercises"])
    table = run_cli("check", write(source + MUL)).output
    assert expected in table and "Traceback" not in table


def test_missing_function_costs_only_its_exercise(tmp_path):
    source = SOLUTION.read_text().replace("def mul_backward", "def mul_backwards")
    path = tmp_path / "backprop.py"
    path.write_text(source)
    report, _ = check_json(path)
    lost = {k: v for k, v in scores(report).items() if v[0] != v[1]}
    assert list(lost) == ["mul"]
    (mul,) = [e for e in report["exercises"] if e["id"] == "mul"]
    assert mul["status"] == "error" and mul["hints"] == [
        "the submission defines no mul_backward; did you mean mul_backwards? the grader calls "
        "mul_backward"]


def test_a_raising_function_shows_the_students_line(tmp_path):
    path = compose(tmp_path, "def exp_backward(dout, x):\n    return dout * np.exp(x) @ x\n")
    report, _ = check_json(path, "--only", "exp")
    hint = report["exercises"][0]["hints"][0]
    assert "raised ValueError" in hint and "in exp_backward" in hint and "@ x" in hint


def test_a_correct_formula_that_overflows_prints_nothing(tmp_path):
    """1 / (1 + exp(-x)) is right at x = -750 although exp overflows: numpy's warning is
    not shown to the student as something their function printed."""
    report, code = check_json(compose(tmp_path, (
        "def sigmoid_backward(dout, x):\n"
        "    s = 1 / (1 + np.exp(-x))\n"
        "    return dout * s * (1 - s)\n")), "--only", "sigmoid")
    sigmoid = report["exercises"][0]
    assert code == 0 and sigmoid["status"] == "passed"
    assert not sigmoid.get("printed"), sigmoid.get("printed")


ESCAPES = (
    "def mul_backward(dout, x, y):\n"
    "    print('\\x1b]0;PWNED-TITLE\\x07 \\x1b]8;;http://evil/\\x07link\\x1b]8;;\\x07')\n"
    "    print('fake\\r  mul  5/5  passed\\x1b[2K\\x9b31m')\n"
    "    return dout * y, dout * x\n"
    "\n"
    "def exp_backward(dout, x):\n"
    "    raise RuntimeError('\\x1b]52;c;cGF5bG9hZA==\\x07clipboard')\n")


def test_nothing_a_student_prints_or_raises_drives_the_terminal(tmp_path):
    """Titles, hyperlinks, the clipboard, cursor moves and carriage returns from student
    text never reach the TA's terminal, in the table or in batch feedback."""
    folder = tmp_path / "class"
    folder.mkdir()
    path = compose(folder, ESCAPES)
    table = run_cli("check", path).output
    assert "link" in table and "clipboard" in table  # the text stays, its escapes go
    for bad in ("\x1b]", "\x1b[2K", "\r", "\x9b", "PWNED-TITLE"):
        assert bad not in table, repr(bad)
    out = tmp_path / "out"
    grade = run_cli("grade", folder, "-o", out, "--seed", "1")
    assert grade.exit_code == 0, grade.output
    feedback = "".join(p.read_text() for p in (out / "feedback").glob("*.md"))
    assert "clipboard" in feedback and "\x1b" not in feedback and "\r" not in feedback


def test_a_students_name_or_message_neither_fakes_nor_hides_what_the_ta_reads(tmp_path):
    """Names come from file names: a line break in one printed fake totals, an escape
    sequence (conceal, cursor up) hid or overwrote other students' rows in the terminal,
    gradebook.csv and summary.md; a `|` in a message opened columns in summary.md."""
    folder = tmp_path / "class"
    folder.mkdir()
    zero = "import numpy as np\ndef add_backward(dout, x, y):\n    return dout * 0, dout * 0\n"
    (folder / "amy\x1b[8m.py").write_text(zero)
    (folder / "eve\x1b[2K\x1b[1A.py").write_text(zero)
    (folder / "zed\n0 points: 0.py").write_text(zero)
    compose(folder, "def mul_backward(dout, x, y):\n"
                    "    raise ValueError('a | b \\x1b[8m hidden')\n", name="kit.py")
    out = tmp_path / "out"
    grade = run_cli("grade", folder, "-o", out, "--seed", "1")
    assert grade.exit_code == 0, grade.output
    for text in (grade.output, (out / "gradebook.csv").read_text(),
                 (out / "summary.md").read_text()):
        assert "\x1b" not in text and "zed\n" not in text, text
        assert "amy\\x1b[8m" in text and "zed\\n0 points: 0" in text
    assert "ValueError: a \\| b" in (out / "summary.md").read_text()


ROW_EATERS = (
    "def mul_backward(dout, x, y):\n"  # a hyperlink cut in half by the table's column
    "    raise ValueError('see \\x1b]8;;http://example.org/' + 'x' * 200 + '\\x07here')\n"
    "\n"
    "def max_backward(dout, x, y):\n"
    "    raise ValueError('boom\\n  exp   5/5  passed\\n  total   100/100  all good')\n")


def test_no_message_hides_or_fakes_a_row_of_the_table(tmp_path):
    """An escape sequence cut short by the column swallowed the rows after it and the
    total (through a pipe: every row); a message's own line breaks printed fake rows."""
    table = run_cli("check", compose(tmp_path, ROW_EATERS)).output
    rows = [line.split()[0] for line in table.splitlines()[3:] if line.startswith("  ")]
    assert rows[:18] == ["add", "mul", "max", "exp", "reciprocal", "scale", "offset",
                         "sigmoid", "relu", "relu_jacobian", "linear", "softmax_ce",
                         "two_layer_net", "backprop", "simple_graph", "sigmoid_neuron",
                         "gate_patterns", "total"], table
    assert "\n  total   100/100  all good" not in table and "boom exp 5/5 passed" in table
    assert "\x1b]" not in table


@pytest.mark.parametrize("content", [
    b"Dear TA,\nplease find my answers attached.\nThanks!\n",
    bytes(range(256)) * 8,
])
def test_a_file_that_is_not_python_gets_one_message(tmp_path, content):
    """A letter or a binary saved as backprop.py: one message that says so, not one
    'defines no ...' per exercise with the cause hidden in a note."""
    path = tmp_path / "backprop.py"
    path.write_bytes(content)
    report, code = check_json(path)
    assert code == 1 and report["score"] == 0
    assert report["error"].startswith("backprop.py is not Python")
    hints = [h for e in report["exercises"] for h in e["hints"]]
    assert not any("defines no" in h for h in hints), hints


@pytest.mark.parametrize("body, most", [("return {}", 1), ("return {n: 0.0 for n in nodes}", 3)])
def test_backprop_says_each_kind_of_mistake_once(tmp_path, body, most):
    """Every graph of the backprop exercise would repeat the same form problem, or the same
    plain 'dx is 0; expected ...' of another node: each is said once."""
    report, _ = check_json(compose(tmp_path, f"def backprop(nodes, local_grads, output):\n"
                                             f"    {body}\n"), "--only", "backprop")
    hints = report["exercises"][0]["hints"]
    assert 1 <= len(hints) <= most, hints
    assert sum(" is " in h and "; expected " in h for h in hints) <= 1, hints
    assert sum("returned no gradient" in h for h in hints) <= 1, hints


def test_exercises_planned_while_the_fork_server_loads_reach_the_child_it_starts(monkeypatch):
    """`check` starts its fork server as it loads. Exercises planned before the server is
    ready wait for it; the child starts between two exercises, as soon as it is, gets them
    all, then each next one as it is planned, and answers every call in order."""
    from grader.sandbox import Call, run_submission, runner

    server = runner._zygote
    if server is None:
        pytest.skip("the portable path has no fork server")
    server.wait_ready()
    polls = iter([True, True])  # loading when asked before planning and after exercise 0
    monkeypatch.setattr(server, "starting", lambda: next(polls, False))
    events = []
    begin = runner._Session.begin
    monkeypatch.setattr(runner._Session, "begin",
                        lambda self, *args: (events.append("child"), begin(self, *args))[1])

    def plan(each):
        made = []
        for k in range(3):
            events.append(f"planned {k}")
            made.append(Call(f"e{k}", "full", [float(k)], form="array"))
            each(made[-1:])
        return made

    source = b"import numpy as np\ndef full(k):\n    return np.full(2, k)\n"
    run = run_submission(source, plan)
    assert events == ["planned 0", "planned 1", "child", "planned 2"]
    assert [o.status for o in run.outcomes] == ["ok"] * 3, run.outcomes
    assert [o.output["items"][0]["array"].tolist() for o in run.outcomes] == \
        [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]


@pytest.mark.parametrize("submission, status, score", [
    (SOLUTION, 0, 100.0), (ROOT / "examples" / "buggy_backprop.py", 1, 75.0)])
def test_check_as_a_command_gives_its_status_and_whole_report_and_leaves_nothing(
        submission, status, score, tmp_path):
    """`python -m grader check` (what `backprop check` runs) skips the interpreter's
    teardown: its whole report still arrives, with its exit status, and its fork server,
    work folder and harness copy are gone when it returns."""
    os.chmod(tmp_path, 0o755)  # the temporary folders in it are handed to a sandbox uid
    done = subprocess.run([sys.executable, "-m", "grader", "check", str(submission), "--json"],
                          cwd=ROOT, env={**os.environ, "TMPDIR": str(tmp_path)},
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == status, done.stderr
    assert json.loads(done.stdout)["score"] == score
    assert list(tmp_path.iterdir()) == []
    assert not [p for p in Path("/proc").glob("[0-9]*")
                if str(tmp_path).encode() in _cmdline(p)], "a process of the check lives on"


def _cmdline(process: Path) -> bytes:
    try:
        return (process / "cmdline").read_bytes()
    except OSError:  # gone meanwhile
        return b""


def test_an_assignment_that_says_nothing_of_tolerances_gets_the_documented_ones(tmp_path):
    """An assignment may list built-in exercises and nothing else: the solution keeps full
    marks on gates and worked examples (hand-rounded answers), a classic mistake does not."""
    course = tmp_path / "assignment.yaml"
    course.write_text("title: Minimal\nexercises:\n  - {id: mul, points: 5}\n"
                      "  - {id: sigmoid_neuron, points: 4}\n  - {id: simple_graph, points: 4}\n")
    report, code = check_json(SOLUTION, "--assignment", course)
    assert code == 0 and report["score"] == 13, scores(report)
    report, _ = check_json(ROOT / "tests" / "submissions" / "bad" / "mul_swapped.py",
                           "--assignment", course)
    assert scores(report)["mul"][0] < 5
