"""Notebook submissions: real notebooks written with nbformat, graded through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from conftest import ROOT, SOLUTION, check_json, run_cli, scores
from grader.template import notebook_text

TEMPLATE = ROOT / "student_template"


def solution_cells() -> list[str]:
    """The solution split into one cell per definition, as a student would write it."""
    text = SOLUTION.read_text()
    chunks = text.split("\n\n\n")
    return [c.strip() for c in chunks if c.strip()]


def notebook(cells, kernel="python3", **extra) -> nbformat.NotebookNode:
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
    nb.metadata.update(extra)
    return nb


def save(nb, path: Path) -> Path:
    nbformat.write(nb, str(path))
    return path


def messy_notebook() -> nbformat.NotebookNode:
    """Everything else that lives in a real notebook, around correct functions."""
    cells = [new_markdown_cell("# My homework\nSome *notes*."),
             new_code_cell("%matplotlib inline\n!pip install nothing\nfiles = !ls\nnp?"),
             new_code_cell("%%bash\necho this is bash"),
             new_code_cell("import time\ntime.sleep(1000)  # training for a long time"),
             new_code_cell("name = input('your name? ')"),
             new_code_cell("raise RuntimeError('this cell fails')"),
             new_code_cell("while True:\n    pass"),
             new_code_cell("import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()")]
    fake = new_code_cell("print('All tests passed!')")
    fake.outputs = [new_output("stream", name="stdout", text="All tests passed! 100/100\n")]
    cells.append(fake)
    cells += [new_code_cell(c) for c in solution_cells()]
    cells.append(new_code_cell("from grader import check\ncheck()"))
    return notebook(cells)


def test_a_messy_notebook_keeps_full_marks_without_running_what_is_not_a_definition(
        tmp_path):
    """The cells that would never end (a sleep, a busy loop) are left out by the notebook
    rule, not run and then stopped at a time limit: whatever the machine's speed, nothing
    of them runs, and no statement is reported as stopped."""
    from grader.grading import NOT_RUN_NOTE

    path = save(messy_notebook(), tmp_path / "backprop.ipynb")
    result = run_cli("check", path)
    assert result.exit_code == 0, result.output
    assert "100/100" in result.output
    not_run = result.output[result.output.index("Not run"):]
    for skipped in ("time.sleep(1000)", "input('your name? ')", "raise RuntimeError",
                    "while True:", "plt.plot", "a cell magic (%%bash)"):
        assert not_run.count(skipped) == 1, skipped
    assert "check()" not in not_run
    report, code = check_json(path)
    assert code == 0
    # Listed as left out (the cell's own line), never as run and stopped or raised (which
    # would read "code cell 3, line 2: stopped: still running after 10 s ...").
    assert "code cell 3, line 2: time.sleep(1000)  # training for a long time" in \
        report["not_run"], report["not_run"]
    assert "code cell 6, line 1: while True:" in report["not_run"], report["not_run"]
    assert report["notes"] == [NOT_RUN_NOTE], report["notes"]  # no "were stopped" note


@pytest.mark.parametrize("kernel", ["python3", "bash", "ir", "julia-1.9"])
def test_kernel_metadata_and_stored_outputs_are_ignored(tmp_path, kernel):
    cells = [new_code_cell(c) for c in solution_cells()]
    cells.append(new_code_cell("def mul_backward(dout, x, y):\n    return dout * x, dout * y"))
    cells[-1].outputs = [new_output("stream", name="stdout", text="mul: 5/5 passed\n")]
    report, _ = check_json(save(notebook(cells, kernel=kernel), tmp_path / "hw.ipynb"))
    assert [k for k, (s, m) in scores(report).items() if s != m] == ["mul"]


def test_run_all_runs_every_cell(tmp_path):
    """(A cell that never ends is then stopped and skipped: tests/test_top_level.py.)"""
    good = notebook([new_code_cell(c) for c in solution_cells()] +
                    [new_code_cell("def two():\n    return 2.0\n\nSCALE = two()\n"
                                   "def scale_backward(dout, x, c):\n"
                                   "    return dout * c * SCALE / 2")])
    path = save(good, tmp_path / "calls.ipynb")
    default, _ = check_json(path, "--only", "scale")
    assert "name 'SCALE' is not defined" in default["exercises"][0]["hints"][0]
    assert "code cell" in default["exercises"][0]["hints"][0]
    run_all, code = check_json(path, "--only", "scale", "--run-all")
    assert code == 0


@pytest.mark.parametrize("run_all", [False, True], ids=["definitions", "run-all"])
def test_odd_cells_are_skipped_or_read_never_a_traceback(tmp_path, run_all):
    """Line breaks as a lone \\r (old Mac editors) or \\r\\n, and a byte-order mark, are
    read as Python reads them; a cell that does not parse, or holds a lone surrogate, is
    skipped and named, with --run-all too (it crashed `check`, or gave the notebook 0)."""
    cells = solution_cells()
    cells[0] = "\ufeff" + cells[0].replace("\n", "\r")
    cells[1] = cells[1].replace("\n", "\r\n")
    nb = notebook([new_code_cell(c) for c in cells] +
                  [new_code_cell("X = (\rY = 1"), new_code_cell("Z = '\ud800'")])
    path = tmp_path / "odd.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")  # \ud800 as JSON writes it: escaped
    report, code = check_json(path, *(["--run-all"] if run_all else []))
    assert code == 0 and report["score"] == report["max_score"], report["error"]
    first = len(cells) + 1
    assert [line.split(":")[0] for line in report["not_run"]] == \
        [f"code cell {first}", f"code cell {first + 1}"], report["not_run"]


def test_errors_point_at_the_cell_and_line(tmp_path):
    cells = [new_code_cell(c) for c in solution_cells()]
    cells.append(new_code_cell("# exp, my way\n\ndef exp_backward(dout, x):\n"
                               "    return dout * np.exp(x) @ x"))
    report, _ = check_json(save(notebook(cells), tmp_path / "nb.ipynb"), "--only", "exp")
    assert f"code cell {len(cells)}, line 4 in exp_backward" in report["exercises"][0]["hints"][0]


def test_a_cell_with_a_syntax_error_is_skipped_and_named(tmp_path):
    cells = [new_code_cell(c) for c in solution_cells() if "def relu_backward" not in c]
    cells.append(new_code_cell("def relu_backward(dout, x)\n    return dout * (x > 0)"))
    result = run_cli("check", save(notebook(cells), tmp_path / "nb.ipynb"))
    assert "SyntaxError at line 1" in result.output and "defines no relu_backward" in \
        result.output


def test_code_cells_read_without_validation_are_what_nbformat_reads():
    """Version 4 cells of the usual shape skip nbformat's validation: the module graded
    is the same, and so is every cell number and line it points at."""
    from grader import notebooks

    nb = messy_notebook()
    fast = notebooks.read(nbformat.writes(nb).encode())
    assert not isinstance(fast, nbformat.NotebookNode)  # nbformat was not needed
    for run_all in (False, True):
        assert notebooks.to_module(fast, run_all) == notebooks.to_module(nb, run_all)


def test_nbformat_warnings_never_print_above_the_report(tmp_path):
    """A cell nbformat must repair (here, one with no type and no id) is read without its
    MissingIDFieldWarning: the report is the first thing the student sees."""
    nb = json.loads(nbformat.writes(new_notebook(cells=[new_code_cell(
        "def add_backward(dout, x, y):\n    return dout, dout")])))
    nb["cells"].append({"metadata": {}, "source": "words"})
    for cell in nb["cells"]:
        cell.pop("id", None)
    path = tmp_path / "work.ipynb"
    path.write_text(json.dumps(nb))
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        result = run_cli("check", path, "--only", "add")
    assert [str(w.message) for w in shown] == []
    assert result.output.startswith("backprop-grader")


@pytest.mark.parametrize("content, message", [
    (b"{not json", "not valid JSON"),
    (json.dumps({"nbformat": 99, "nbformat_minor": 0, "cells": [], "metadata": {}}).encode(),
     "unsupported notebook format version 99"),
    (nbformat.writes(new_notebook(cells=[new_markdown_cell("only words")])).encode(),
     "has no code cells"),
    (b"{\xff\xfe\x00garbage", "not UTF-8"),
    (b"[" * 100_000 + b"]" * 100_000, "not a notebook"),
    (b"{" + b'"a":{' * 100_000 + b"}" * 100_001, "not valid JSON"),
    (json.dumps({"nbformat": 4, "nbformat_minor": 5, "cells": "oops", "metadata": {}}).encode(),
     "malformed"),
], ids=["corrupt", "version", "no-code", "not-utf8", "deep-list", "deep-dict", "malformed"])
def test_unreadable_notebooks_get_a_report_with_score_zero(tmp_path, content, message):
    path = tmp_path / "backprop.ipynb"
    path.write_bytes(content)
    result = run_cli("check", path, "--json")
    assert result.exit_code == 1 and "Traceback" not in result.output
    report = json.loads(result.stdout)
    assert report["score"] == 0 and message in report["error"]
    assert "backprop.ipynb cannot be graded" in report["error"]


def test_folders_and_zips(tmp_path):
    folder = tmp_path / "student"
    (folder / "work").mkdir(parents=True)
    save(notebook([new_code_cell(c) for c in solution_cells()]),
         folder / "work" / "backprop.ipynb")
    (folder / "work" / ".ipynb_checkpoints").mkdir()
    (folder / "work" / ".ipynb_checkpoints" / "backprop-checkpoint.ipynb").write_text("{}")
    report, code = check_json(folder)
    assert code == 0 and report["submission"] == "backprop.ipynb"
    archive = tmp_path / "submission.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(folder / "work" / "backprop.ipynb", "hw3/backprop.ipynb")
        z.writestr("__MACOSX/hw3/._backprop.ipynb", b"\0\1junk")
        link = zipfile.ZipInfo("hw3/solution.py")
        link.external_attr = (0o120777 << 16)
        z.writestr(link, "/etc/shadow")
    report, code = check_json(archive)
    assert code == 0 and report["submission"] == "backprop.ipynb"


def test_an_ambiguous_folder_says_which_file_was_graded_and_why(tmp_path):
    folder = tmp_path / "student"
    folder.mkdir()
    (folder / "backprop.py").write_text((TEMPLATE / "backprop.py").read_text())  # untouched
    save(notebook([new_code_cell(c) for c in solution_cells()]), folder / "final.ipynb")
    save(notebook([new_code_cell("import numpy as np")]), folder / "scratch.ipynb")
    result = run_cli("check", folder)
    assert result.exit_code == 0
    assert "graded final.ipynb (16 of 16 functions and answers implemented) rather than " \
           "backprop.py, scratch.ipynb" in result.output.replace("\n", " ")


def test_a_zip_bomb_member_is_refused(tmp_path, monkeypatch):
    """Refused as a usage error (exit 2, nothing graded) while reading it, with at most the
    cap decompressed: never the whole 30 MiB, and nothing extracted to disk."""
    import tempfile

    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("backprop.py", b"#" * (30 << 20))
    decompressed = []
    for method in ("read", "read1"):
        real = getattr(zipfile.ZipExtFile, method)

        def counted(self, *args, _real=real):
            data = _real(self, *args)
            decompressed.append(len(data))
            return data

        monkeypatch.setattr(zipfile.ZipExtFile, method, counted)

    def no_extraction(*args, **kwargs):
        raise AssertionError("a member of a student's archive was extracted")

    monkeypatch.setattr(zipfile.ZipFile, "extract", no_extraction)
    monkeypatch.setattr(zipfile.ZipFile, "extractall", no_extraction)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    result = run_cli("check", archive)
    assert result.exit_code == 2 and "larger than 20 MiB" in result.output
    assert 0 < sum(decompressed) <= (20 << 20) + 1  # the cap and one byte: not 30 MiB
    assert sum(f.stat().st_size for f in scratch.rglob("*") if f.is_file()) < 1 << 20


def test_the_committed_notebook_matches_the_generator():
    generated = notebook_text((TEMPLATE / "backprop.py").read_text())
    assert (TEMPLATE / "backprop.ipynb").read_text() == generated, \
        "run `python -m grader.template` to regenerate student_template/backprop.ipynb"
    nb = nbformat.reads(generated, as_version=4)
    nbformat.validate(nb)
    mul = [c.source for c in nb.cells if c.cell_type == "markdown" and "Multiply" in c.source]
    assert mul and "15" in mul[0] and "10" in mul[0]  # the lecture's worked numbers


def test_template_command(tmp_path):
    result = run_cli("template", tmp_path / "hw")
    assert result.exit_code == 0
    assert sorted(p.name for p in (tmp_path / "hw").iterdir()) == ["backprop.ipynb",
                                                                   "backprop.py"]
    again = run_cli("template", tmp_path / "hw")
    assert again.exit_code == 2 and "--force" in again.output
    assert run_cli("template", tmp_path / "hw", "--force").exit_code == 0


def test_the_template_notebook_runs_in_a_real_kernel(tmp_path):
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(str(TEMPLATE / "backprop.ipynb"), as_version=4)
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    checks = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith("check(")]
    assert len(checks) == 18
    for cell in checks:
        html = "".join(o.get("data", {}).get("text/html", "") for o in cell.outputs)
        assert "public checks" in html
        assert "not implemented yet" in html or "not filled in yet" in html, cell.source


def test_check_from_a_plain_script(tmp_path):
    script = tmp_path / "mywork.py"
    script.write_text(SOLUTION.read_text() + "\n\nif __name__ == '__main__':\n"
                      "    from grader import check\n    check('mul', 'relu')\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "13/13" in out.stdout and "public checks" in out.stdout  # mul 5 + relu 8


RULE_CELLS = [
    "import numpy as np\nfrom math import sqrt as root\nimport math",
    "ONE = np.float64(1.0)\n"
    "sig = lambda x: ONE / (ONE + np.exp(-x))\n"
    "W = np.arange(6).reshape(2, 3)\n"
    "N = len(range(3)) + int(math.floor(root(4.0)))  # 5",
    "LOSS = train(3)  # not a definition",
    "def sigmoid_backward(dout, x):\n"
    '    """Why the sigmoid? Because it is smooth?\n'
    "!important: the derivative is s (1 - s)\n"
    '    """\n'
    "    s = sig(x) * W.size / 6 * N / 5  # swap the inputs?\n"
    "    return dout * s * (1 - s)",
    "np.exp?\n?np.log\nnp.exp??",
]


def test_library_constants_lambdas_and_question_marks_keep_their_meaning(tmp_path):
    """What students write: a numpy constant, a lambda, a comment or docstring line ending
    in `?`, help lines. Only the call of the student's own function is not run."""
    cells = [new_code_cell(c) for c in solution_cells() if "def sigmoid_backward" not in c]
    path = save(notebook(cells + [new_code_cell(c) for c in RULE_CELLS]), tmp_path / "hw.ipynb")
    report, code = check_json(path, "--only", "sigmoid")
    assert code == 0, report["exercises"][0]["hints"]
    table = run_cli("check", path, "--only", "sigmoid").output
    not_run = table[table.index("Not run"):].splitlines()
    listed = [line for line in not_run if line.startswith("  - ")]
    assert listed == [f"  - code cell {len(cells) + 3}, line 1: LOSS = train(3)  "
                      "# not a definition"], table


def test_check_in_a_kernel_lists_what_it_skipped_once_and_takes_run_all(tmp_path):
    """In Jupyter: a cell run twice is listed once, at its last run; run_all and student
    reach the grading."""
    nbclient = pytest.importorskip("nbclient")
    mul = next(c for c in solution_cells() if "def mul_backward" in c)
    cells = [new_code_cell("import numpy as np\nfrom grader import check"),
             new_code_cell("def double(v):\n    return 2 * v\n\nTWO = double(1.0)"),
             new_code_cell(mul.replace("return dout * y, dout * x",
                                       "return dout * y * TWO / 2, dout * x * TWO / 2")),
             new_code_cell("print('training')"), new_code_cell("print('training')"),
             new_code_cell('check("mul")'),
             new_code_cell('check("mul", run_all=True, student="kim@uni.edu")')]
    nb = notebook(cells)
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    default, run_all = ("".join(o.get("data", {}).get("text/html", "") for o in cell.outputs)
                        for cell in nb.cells[-2:])
    assert "Not run (2)" in default  # TWO = double(1.0) and print('training'), once
    assert default.count("print(&#x27;training&#x27;)") == 1 and "In [5], line 1" in default
    assert "name &#x27;TWO&#x27; is not defined" in default
    assert "5/5" in run_all and "Not run" not in run_all
