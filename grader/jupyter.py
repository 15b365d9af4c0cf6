"""`check()`: grade the functions of the running notebook (or script) from inside it.

    from grader import check
    check()                   # every exercise
    check("mul")              # one exercise
    check(run_all=True)       # run every executed cell, not only definitions
    check(student="a@b.edu")  # your own worked-example numbers, if the course has them

The code is read from the cells the kernel has executed, in order, kept by the same
definitions-only rule as `backprop check notebook.ipynb`, and graded through the same
sandbox: nothing runs in the kernel itself. Cells are named as in the saved notebook
("code cell N"), and check() warns when the kernel's functions are not the saved file's.
"""

from __future__ import annotations

import ast
import os
import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import Callable

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from grader import notebooks
from grader import packs
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


def _numbering(history: list[str], saved: dict | None) -> Callable[[str], str]:
    """One numbering everywhere: the kernel's cell K (its execution number) is the saved
    notebook's "code cell N" that holds the same source, and "In [K]" only when no saved
    cell does (edited since the last save, or no file found)."""
    numbers: dict[str, int] = {}
    code = [c for c in (saved or {}).get("cells", []) if c.get("cell_type") == "code"]
    for number, cell in reversed(list(enumerate(code, start=1))):
        numbers[cell.get("source", "").strip()] = number  # the first of equal cells wins
    def name(match: re.Match) -> str:
        k = int(match.group(1))
        number = numbers.get(history[k].strip()) if k < len(history) else None
        return f"code cell {number}" if number else f"In [{k}]"
    return lambda text: re.sub(r"code cell (\d+)", name, text)


NOTHING_RUN = ("none of the assignment's functions is defined in this kernel (after a restart "
               "it has forgotten them): run the cells above first, then check() again")


def _from_kernel(shell, run_all: bool, wanted: set[str]) -> tuple[Prepared, list[str]]:
    """The executed cells, as a notebook (cell K is execution number K), and what to warn
    about where the saved notebook differs."""
    history = list(shell.history_manager.input_hist_raw)
    module = _module(history[1:], run_all)
    source = module.source.encode()
    if not wanted & (defined_names(source) | set(module.left_out)):
        return Prepared("notebook", error=NOTHING_RUN), []
    saved = _saved_notebook(shell)
    named = _numbering(history, saved and saved[1])
    prepared = Prepared("notebook", source, [], lambda line: named(module.where(line)),
                        # a cell run twice is one cell of the file: listed once
                        skipped=list(dict.fromkeys((named(where), what)
                                                   for where, what in module.skipped)),
                        not_run={name: named(why) for name, why in module.left_out.items()})
    return prepared, drift(module, saved, run_all, wanted) if saved else []


def _module(sources: list[str], run_all: bool) -> notebooks.Module:
    nb = new_notebook(cells=[new_code_cell(source) for source in sources])
    return notebooks.to_module(nbformat.from_dict(nb), run_all)


def _saved_notebook(shell) -> tuple[Path, dict] | None:
    """The file this kernel's notebook is saved in, read: Jupyter names it in __session__
    (JPY_SESSION_NAME), VS Code in __vsc_ipynb_file__. None when no readable file is named
    (a console, an unsaved notebook)."""
    names = (shell.user_ns.get("__vsc_ipynb_file__"), shell.user_ns.get("__session__"),
             os.environ.get("JPY_SESSION_NAME"))
    for name in names:
        if not isinstance(name, str) or not name.endswith(".ipynb"):
            continue
        # the server may name it relative to its root; the kernel runs in its folder
        for path in (Path(name), Path.cwd() / Path(name).name):
            try:
                return path, notebooks.read(path.read_bytes())
            except (OSError, notebooks.NotebookError):
                continue
    return None


def _definitions(module: notebooks.Module, wanted: set[str]) -> dict[str, list[str]]:
    """Every kept top-level definition of each wanted name, in order, as its syntax tree
    (so a comment or a blank line is no difference)."""
    found: dict[str, list[str]] = {}
    try:
        tree = notebooks.parse(module.source)
    except (SyntaxError, ValueError, *notebooks.TOO_COMPLEX):
        return found
    for stmt in tree.body:
        for name in notebooks.bound_names(stmt) & wanted:
            found.setdefault(name, []).append(ast.dump(stmt))
    return found


def drift(kernel_module: notebooks.Module, saved: tuple[Path, dict], run_all: bool,
          wanted: set[str]) -> list[str]:
    """What to tell a student whose kernel holds other definitions than the saved file:
    check() grades the kernel, the course grades the file."""
    path, nb = saved
    kernel = _definitions(kernel_module, wanted)
    filed = _definitions(notebooks.to_module(nb, run_all), wanted)
    unsaved = sorted(n for n in kernel if kernel[n][-1] not in filed.get(n, []))
    stale = sorted(n for n in kernel if n not in unsaved and kernel[n][-1] != filed[n][-1])
    notes = []
    if unsaved:
        verb = "differs" if len(unsaved) == 1 else "differ"
        notes.append(f"the kernel's {', '.join(unsaved)} {verb} from {path.name} as saved "
                     "(edited since the last save?): save the notebook, since the course "
                     "grades the saved file")
    if stale:
        verb = "is" if len(stale) == 1 else "are"
        notes.append(f"the kernel's {', '.join(stale)} {verb} not the last definition in "
                     f"{path.name} (cells run out of order, or not all of them): re-run the cells top to bottom "
                     "(Kernel > Restart & Run All)")
    return notes


def _from_script(wanted: set[str], run_all: bool) -> Prepared:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if not path:
        raise RuntimeError("check() needs a notebook or a script file to read the code from")
    return prepare(Path(path), wanted, run_all)


def check(*exercise_ids: str, seed: int = 0, run_all: bool = False,
          student: str | None = None, pack: str | None = None) -> Report:
    """Grade the current notebook's functions and show a per-exercise table.

    run_all=True runs every cell you executed, not only definitions (as `--run-all`);
    student="your id" checks the worked examples against your own numbers when the
    course gives each student theirs (as `--student`); pack="cs231n" (a name or a folder)
    grades against that course pack (as `--pack`)."""
    assignment = load_assignment(pack=packs.load(packs.find(pack)) if pack else None)
    if exercise_ids:
        assignment = assignment.only(exercise_ids)
    shell = _ipython()
    wanted = assignment.functions
    prepared, warnings = _from_kernel(shell, run_all, wanted) if shell is not None else \
        (_from_script(wanted, run_all), [])
    report = grade_prepared(prepared, assignment, seed, identity=student)
    if assignment.variant_seed is not None and student is None:
        report.notes.append(VARIANT_NOTE.replace("--student YOUR_ID", 'check(student="YOUR_ID")'))
    if shell is not None and getattr(shell, "kernel", None) is not None:
        from IPython.display import HTML, display

        # the warnings say what the kernel holds now: shown under every check()
        display(HTML(render_html(replace(report, notes=warnings + _first_time(report.notes)))))
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
