"""Notebooks that say why: a definition that is missing names the cell or line that did not
run; check() in a kernel says what the terminal says, once, and leaves a clean output."""

from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from conftest import ROOT, SOLUTION, check_json


def solution_cells(*without: str) -> list[str]:
    """The solution, one cell per definition, with the definitions of `without` renamed
    away (a student who has not written them)."""
    text = SOLUTION.read_text()
    for name in without:
        text = text.replace(f"def {name}(", f"def _old_{name}(").replace(f"{name} =",
                                                                     f"_old_{name} =")
    return [c.strip() for c in text.split("\n\n\n") if c.strip()]


def test_a_missing_definition_says_which_cell_did_not_run(tmp_path):
    cells = solution_cells("max_backward", "SIGMOID_NEURON_GRADS") + [
        "%%time\ndef max_backward(dout, x, y):\n    return dout * (x > y), dout * (x <= y)",
        "g = sigmoid_backward(np.asarray(1.0), np.asarray(0.5))",
        "SIGMOID_NEURON_GRADS = {'w0': g, 'x0': 0.39, 'w1': -0.39, 'x1': -0.59, 'w2': 0.2}"]
    path = tmp_path / "work.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in cells]), str(path))
    report, _ = check_json(path, "--only", "max", "--only", "sigmoid_neuron")
    hints = {e["id"]: " | ".join(e["hints"]) for e in report["exercises"]}
    magic, first = len(cells) - 2, len(cells) - 1
    assert hints["max"] == (f"max_backward is defined at code cell {magic}, a %%time cell, "
                            "which was not run: the grader runs no %% cell, so move the "
                            "definition to a plain cell")
    assert hints["sigmoid_neuron"].startswith(
        f"SIGMOID_NEURON_GRADS (code cell {first + 1}, line 1) uses g, defined at code cell "
        f"{first}, line 1, which was not run")
    assert "did you mean" not in " ".join(hints.values())
    # --json carries what the table lists under "Not run", and the notes that explain it
    assert f"code cell {magic}: a cell magic (%%time)" in report["not_run"]
    assert any("each line says why" in note for note in report["notes"])


def test_check_in_a_kernel_says_what_the_terminal_says_once_and_cleanly(tmp_path,
                                                                        monkeypatch):
    """After a restart nothing is defined: one message, not one per exercise. A stub is
    "not started", the sandbox tier is named, a long note is shown once per session, and
    the cell's output is the table alone. Cells are named as the saved notebook numbers
    them, and check() warns when the kernel's functions are not the saved file's."""
    nbclient = pytest.importorskip("nbclient")
    mul = next(c for c in solution_cells() if "def mul_backward" in c)
    relu = next(c for c in solution_cells() if "def relu_backward" in c)
    gates = new_code_cell("import numpy as np\n" + mul + "\ndef relu_backward(dout, x):\n"
                          "    raise NotImplementedError\n\nprint('training')")
    saved = [new_code_cell("from grader import check\ncheck('mul')"), gates,
             new_code_cell("check('mul', 'relu')"), new_code_cell("check('mul', 'relu')"),
             new_code_cell(relu)]
    path = tmp_path / "work.ipynb"
    nbformat.write(new_notebook(cells=saved), str(path))
    edited = mul.replace("return dout * y, dout * x", "return dout * x, dout * y")
    assert edited != mul
    # run as a student would: the saved cells, then the stub's cell again (out of order),
    # then an edit of mul_backward in a cell that is not saved, then check()
    ran = saved + [new_code_cell(gates.source), new_code_cell(edited + "\n\nprint('edited')"),
                   new_code_cell("check('mul', 'relu')")]
    nb = new_notebook(cells=ran)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the kernel imports this grader
    monkeypatch.setenv("JPY_SESSION_NAME", str(path))  # as Jupyter names the kernel's file
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    restarted, first, second, last = (
        "".join(o.get("data", {}).get("text/html", "") for o in cell.outputs)
        for cell in (nb.cells[0], nb.cells[2], nb.cells[3], nb.cells[-1]))
    assert restarted.count("run the cells above first") == 1, restarted
    assert "defines no" not in restarted
    assert "not started" in first and "sandbox: " in first
    assert "each line says why" in first and "each line says why" not in second
    for cell in nb.cells[2:]:
        assert [o.get("data", {}).get("text/plain") for o in cell.outputs
                if o.get("output_type") == "execute_result"] == []
    # one numbering: the saved notebook's, where a kernel cell is one of its cells
    assert "code cell 2, line 7" in first and "In [2]" not in first, first
    assert last.count("code cell 2, line 7") == 1 and "In [6]" not in last, last
    assert "In [7], line 4" in last  # a cell that is not in the saved file
    assert "kernel&#x27;s mul_backward differs from work.ipynb as saved" in last
    assert "save the notebook" in last and "save the notebook" not in first
    assert "kernel&#x27;s relu_backward is not the last definition in work.ipynb" in last
    assert "re-run the cells top to bottom" in last
