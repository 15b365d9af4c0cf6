"""`check()`: grade the functions of the running notebook (or script) from inside it.

    from grader import check
    check()                   # every exercise
    check("mul")              # one exercise
    check(run_all=True)       # run every executed cell, not only definitions
    check(student="a@b.edu")  # your own worked-example numbers, if the course has them

The code is read from the cells the kernel has executed, in order, kept by the same
definitions-only rule as `backprop check notebook.ipynb`, and graded through the same
sandbox: nothing runs in the kernel itself.
"""

from __future__ import annotations

import re
import sys
from dataclasses import replace
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from grader import notebooks
from grader.exercises import load_assignment
from grader.grading import VARIANT_NOTE, Report, grade_prepared
from grader.reports import render_html, render_table
from grader.submissions import Prepared, defined_names, prepare


def _ipython():
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def _in(text: str) -> str:
    """The kernel's own words: "code cell 7, line 2" is "In [7], line 2"."""
    return re.sub(r"code cell (\d+)", r"In [\1]", text)


NOTHING_RUN = ("none of the assignment's functions is defined in this kernel (after a restart "
               "it has forgotten them): run the cells above first, then check() again")


def _from_kernel(shell, run_all: bool, wanted: set[str]) -> Prepared:
    """The executed cells, as a notebook: cell N is execution number N."""
    history = list(shell.history_manager.input_hist_raw)
    nb = new_notebook(cells=[new_code_cell(source) for source in history[1:]])
    module = notebooks.to_module(nbformat.from_dict(nb), run_all)
    source = module.source.encode()
    if not wanted & (defined_names(source) | set(module.left_out)):
        return Prepared("notebook", error=NOTHING_RUN)
    return Prepared("notebook", source, [], lambda line: _in(module.where(line)),
                    skipped=[(_in(where), what) for where, what in module.skipped],
                    not_run={name: _in(why) for name, why in module.left_out.items()})


def _from_script(wanted: set[str], run_all: bool) -> Prepared:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if not path:
        raise RuntimeError("check() needs a notebook or a script file to read the code from")
    return prepare(Path(path), wanted, run_all)


def check(*exercise_ids: str, seed: int = 0, run_all: bool = False,
          student: str | None = None) -> Report:
    """Grade the current notebook's functions and show a per-exercise table.

    run_all=True runs every cell you executed, not only definitions (as `--run-all`);
    student="your id" checks the worked examples against your own numbers when the
    course gives each student theirs (as `--student`)."""
    assignment = load_assignment()
    if exercise_ids:
        assignment = assignment.only(exercise_ids)
    shell = _ipython()
    wanted = assignment.functions
    prepared = _from_kernel(shell, run_all, wanted) if shell is not None else \
        _from_script(wanted, run_all)
    report = grade_prepared(prepared, assignment, seed, identity=student)
    if assignment.variant_seed is not None and student is None:
        report.notes.append(VARIANT_NOTE.replace("--student YOUR_ID", 'check(student="YOUR_ID")'))
    if shell is not None and getattr(shell, "kernel", None) is not None:
        from IPython.display import HTML, display

        display(HTML(render_html(replace(report, notes=_first_time(report.notes)))))
    else:
        print(render_table(report))
    return _Quiet(report)


_SHOWN: set[str] = set()  # the notes this kernel has shown already


def _first_time(notes: list[str]) -> list[str]:
    """Each long note once per session: the same words under every check() are noise."""
    new = [note for note in notes if note not in _SHOWN]
    _SHOWN.update(new)
    return new


class _Quiet:
    """The report, shown as nothing at the end of a notebook cell (the table is already
    there) and as its score in a script."""

    def __init__(self, report: Report):
        self.report = report

    def __repr__(self) -> str:
        return f"<{self.report.score:g}/{self.report.max_score:g}>"

    def _ipython_display_(self) -> None:
        """IPython calls this instead of printing the repr: the cell output stays clean."""
