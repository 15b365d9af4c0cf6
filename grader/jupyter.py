"""`check()`: grade the functions of the running notebook (or script) from inside it.

    from grader import check
    check()          # every exercise
    check("mul")     # one exercise

The code is read from the cells the kernel has executed, in order, kept by the same
definitions-only rule as `backprop check notebook.ipynb`, and graded through the same
sandbox: nothing runs in the kernel itself.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from grader import notebooks
from grader.exercises import load_assignment
from grader.grading import Report, grade_prepared
from grader.reports import render_html, render_table
from grader.submissions import Prepared, prepare


def _ipython():
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def _from_kernel(shell) -> Prepared:
    """The executed cells, as a notebook: cell N is execution number N."""
    history = list(shell.history_manager.input_hist_raw)
    nb = new_notebook(cells=[new_code_cell(source) for source in history[1:]])
    module = notebooks.to_module(nbformat.from_dict(nb))
    where = lambda line: module.where(line).replace("code cell ", "In [").replace(",", "],", 1)  # noqa: E731
    return Prepared("notebook", module.source.encode(), [], where)


def _from_script(wanted: set[str]) -> Prepared:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if not path:
        raise RuntimeError("check() needs a notebook or a script file to read the code from")
    return prepare(Path(path), wanted)


def check(*exercise_ids: str, seed: int = 0) -> Report:
    """Grade the current notebook's functions and show a per-exercise table."""
    assignment = load_assignment()
    if exercise_ids:
        assignment = assignment.only(exercise_ids)
    shell = _ipython()
    wanted = assignment.functions
    prepared = _from_kernel(shell) if shell is not None else _from_script(wanted)
    report = grade_prepared(prepared, assignment, seed)
    if shell is not None and getattr(shell, "kernel", None) is not None:
        from IPython.display import HTML, display

        display(HTML(render_html(report)))
    else:
        print(render_table(report))
    return _Quiet(report)


class _Quiet:
    """The report, without a long repr at the end of a notebook cell."""

    def __init__(self, report: Report):
        self.report = report

    def __repr__(self) -> str:
        return f"<{self.report.score:g}/{self.report.max_score:g}>"
