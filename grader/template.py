"""The student's starting files: backprop.py (the contract) and its notebook twin.

`student_template/backprop.py` is the one source of truth; the notebook is generated from
it with nbformat: the module docstring as an introduction, then for every function and
answer dict a markdown cell with the lecture's idea and small worked numbers (the
exercise's `lecture` text), the stub itself, and a cell that checks just that exercise.

    python -m grader.template      # regenerate student_template/backprop.ipynb
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader.exercises import Assignment, data_dir, load_assignment

TEMPLATE_FILES = ("backprop.py", "backprop.ipynb")
SETUP = ("import numpy as np\n"
         "from grader import check  # the public checks; your grade comes from the course's run")


def _segments(source: str) -> list[tuple[str, str]]:
    """(name, source text) of every top-level definition, comments above it included."""
    lines = source.splitlines()
    tree = ast.parse(source)
    segments, previous_end = [], 0
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            name = node.name
        elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
        else:
            previous_end = node.end_lineno
            continue
        start = node.lineno - 1
        while start > previous_end and lines[start - 1].startswith("#"):
            start -= 1  # keep the comment that introduces an answer dict
        segments.append((name, "\n".join(lines[start:node.end_lineno]).strip()))
        previous_end = node.end_lineno
    return segments


NOTEBOOK_RULE = """**How this notebook is graded.** The grader does not run it top to bottom: it
keeps only *definitions* — imports, functions, classes, lambdas, and assignments whose
right-hand side calls nothing but numpy, math or builtins such as `len` (`ONE =
np.float64(1.0)`, `W = np.arange(6).reshape(2, 3)`). Everything else — a training loop, a
plot, a `print`, a call of one of your own functions — is not run, and the report lists it
under "Not run" by cell and line; so your functions must not depend on a variable that
such code makes. Help (`np.exp?`) and magics (`%timeit`) are ignored. `check(run_all=True)`
runs every cell you executed instead."""

SCORING = """## How scoring works

Each exercise is checked on several random cases. **Values come first:** your gradients must
match the true ones (within float32 rounding) on every case; only then do the other checks
add their points — right shapes and dtypes, zero upstream gives zero, linear in the
upstream, arguments left untouched, 0-d arrays, extreme inputs. A gradient with the wrong
math (a sign, a factor, a swapped input, a missing local gradient) earns nothing on its
gate, whatever the cases; NaN or inf fails the gate. The same code gets the same score
whatever the random cases, and each mistake costs points once, in the exercise of the
gate that makes it (the two-layer net is a diagnostic without points). Hints name the
mistake and the lecture idea to revisit."""


def build_notebook(py_source: str, assignment: Assignment,
                   pack: str | None = None) -> nbformat.NotebookNode:
    """The notebook twin of a student file; `pack` (a name or folder) for a course pack's."""
    by_function = {ex.function: ex for ex in assignment.exercises}
    doc = ast.get_docstring(ast.parse(py_source)) or ""
    title, _, rest = doc.partition("\n")
    setup = SETUP if pack is None else SETUP.replace(
        "from grader import check ", "from grader import check, use_pack\n"
        f"use_pack({pack!r})  # this course's pack\n") + ""
    student = assignment.student_file
    cells = [new_markdown_cell(f"# {title}\n\n{rest.strip()}".replace(
                 f"backprop check {student}", f"backprop check {Path(student).stem}.ipynb")),
             new_code_cell(setup), new_markdown_cell(NOTEBOOK_RULE)]
    for name, text in _segments(py_source):
        ex = by_function.get(name)
        if ex is None:
            cells.append(new_code_cell(text))
            continue
        what = "Fill in the dict" if ex.kind == "graph" else f"Implement `{name}`"
        cells += [new_markdown_cell(f"## {ex.title}\n\n{ex.spec.get('lecture', ex.description)}"
                                    f"\n\n{what}, then run the check below it."),
                  new_code_cell(text),
                  new_code_cell(f'check("{ex.id}")')]
    for ex in assignment.exercises:
        if ex.kind == "composition":
            cells += [new_markdown_cell(f"## {ex.title}\n\n{ex.spec.get('lecture', ex.description)}"
                                        "\n\nNothing new to write: this checks the gates above "
                                        "working together."),
                      new_code_cell(f'check("{ex.id}")')]
    cells += [new_markdown_cell(SCORING),
              new_markdown_cell("## Everything at once\n\nThe public checks of every exercise. "
                                "They use the course's public seed; the grade that counts "
                                "comes from the course's own run, on inputs you have not seen."),
              new_code_cell("check()")]
    for i, cell in enumerate(cells):
        cell["id"] = f"cell-{i:02d}"  # stable ids: the committed notebook never drifts
    nb = new_notebook(cells=cells)
    nb.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python",
                                  "name": "python3"},
                   "language_info": {"name": "python"}}
    return nb


def notebook_text(py_source: str, assignment: Assignment | None = None,
                  pack: str | None = None) -> str:
    return nbformat.writes(build_notebook(py_source, assignment or load_assignment(),
                                          pack)) + "\n"


def write_template(target: Path, force: bool = False, assignment: Assignment | None = None,
                   pack: str | None = None) -> list[Path]:
    """Write the starting files into `target` (the lecture's, or a course pack's: its
    student file and the notebook made from it); refuse to overwrite unless `force`."""
    builtin = pack is None
    source = data_dir("student_template") / TEMPLATE_FILES[0] if builtin else \
        assignment.pack.template
    names = (source.name, source.stem + ".ipynb")
    target.mkdir(parents=True, exist_ok=True)
    existing = [target / n for n in names if (target / n).exists()]
    if existing and not force:
        raise FileExistsError(", ".join(str(p) for p in existing))
    if builtin:
        for name in names:
            shutil.copyfile(source.parent / name, target / name)
    else:
        text = source.read_text(encoding="utf-8")
        (target / names[0]).write_text(text, encoding="utf-8")
        (target / names[1]).write_text(notebook_text(text, assignment, pack), encoding="utf-8")
    return [target / n for n in names]


def regenerate() -> Path:
    folder = data_dir("student_template")
    notebook = folder / "backprop.ipynb"
    notebook.write_text(notebook_text((folder / "backprop.py").read_text()))
    return notebook


if __name__ == "__main__":
    print(f"wrote {regenerate()}")
