"""Turn a Jupyter notebook into the Python module that gets graded.

The rule (documented in the README): by default only *definitions* are kept — imports,
functions, classes, and assignments that call nothing (constants, answer dicts) — so a
training loop, a plot, an `input()` or a cell that raises or never ends costs the
functions nothing. IPython magics, `!shell` lines and `?` help are dropped. With
`run_all` every code cell runs, top to bottom, like "Restart & Run All". Every skipped
statement is reported with its cell, so the student knows what was not run.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import nbformat

MAX_NOTEBOOK_BYTES = 20 << 20
MAGIC = re.compile(r"^\s*(%|!|\w+\s*=\s*[!%])|\?\s*$")
KEPT = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
ACTIVE = (ast.Call, ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)


class NotebookError(ValueError):
    """The notebook cannot be read; the message says why."""


@dataclass
class Module:
    """Python source made from a notebook, with where each of its lines came from."""

    source: str
    origins: list[tuple[int, int]]  # (code cell number, line in that cell) per line
    skipped: list[str] = field(default_factory=list)

    def where(self, line: int) -> str:
        if 1 <= line <= len(self.origins):
            cell, cell_line = self.origins[line - 1]
            return f"code cell {cell}, line {cell_line}"
        return f"line {line}"


def read(data: bytes) -> nbformat.NotebookNode:
    """Parse and validate notebook bytes, with a message a student can act on."""
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise NotebookError(f"the notebook is {len(data) >> 20} MiB; clear its outputs "
                            "(Kernel > Restart & Clear Output) and save again")
    if not data.lstrip().startswith(b"{"):
        raise NotebookError("the file is not a notebook (a notebook is a JSON object): is it "
                            "really an .ipynb file?")
    try:
        text = data.decode("utf-8")
        version = json.loads(text).get("nbformat")
    except UnicodeDecodeError:
        raise NotebookError("the notebook is not UTF-8 text: is it really an .ipynb file?") \
            from None
    except (ValueError, RecursionError):
        raise NotebookError("the notebook is not valid JSON (corrupted or truncated); open "
                            "it in Jupyter, save it again and resubmit") from None
    if version not in (3, 4):
        raise NotebookError(f"unsupported notebook format version {version!r}; expected 4 "
                            "(save it with a current Jupyter)")
    import nbformat  # only notebooks need it, and it is slow to import

    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as e:  # nbformat raises several types for malformed notebooks
        raise NotebookError(f"the notebook is malformed ({type(e).__name__}); open it in "
                            "Jupyter, save it again and resubmit") from None
    if not any(c.get("cell_type") == "code" and c.get("source", "").strip()
               for c in nb.get("cells", [])):
        raise NotebookError("the notebook has no code cells")
    return nb


def _strip_magics(source: str) -> str:
    return "\n".join("" if MAGIC.search(line) else line for line in source.split("\n"))


def _is_definition(stmt: ast.stmt) -> bool:
    if isinstance(stmt, KEPT):
        return True
    if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and stmt.value is not None:
        return not any(isinstance(node, ACTIVE) for node in ast.walk(stmt.value))
    if isinstance(stmt, ast.Try):  # try: import x / except ImportError: x = None
        blocks = stmt.body + stmt.orelse + stmt.finalbody + [
            s for handler in stmt.handlers for s in handler.body]
        return all(_is_definition(s) or isinstance(s, ast.Pass) for s in blocks)
    return False


def _missing_module(stmt: ast.stmt) -> str | None:
    """The module an import needs that is not installed here (a plotting library, say)."""
    if isinstance(stmt, ast.Import):
        names = [alias.name for alias in stmt.names]
    elif isinstance(stmt, ast.ImportFrom):
        names = [stmt.module or ""] if stmt.level == 0 else ["." * stmt.level]
    else:
        return None
    for name in names:
        top = name.split(".")[0]
        try:
            if not top or importlib.util.find_spec(top) is None:
                return name
        except (ImportError, ValueError):
            return name
    return None


def _is_silent(stmt: ast.stmt) -> bool:
    """Statements not worth reporting as skipped: docstrings, bare names, `pass`, and the
    notebook's own `check(...)` cells."""
    if isinstance(stmt, ast.Pass):
        return True
    if isinstance(stmt, ast.Expr):
        value = stmt.value
        return isinstance(value, (ast.Constant, ast.Name)) or (
            isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and
            value.func.id == "check")
    return False


def to_module(nb: nbformat.NotebookNode, run_all: bool = False) -> Module:
    lines: list[str] = []
    origins: list[tuple[int, int]] = []
    skipped: list[str] = []
    code_cells = [c for c in nb.cells if c.get("cell_type") == "code"]
    for number, cell in enumerate(code_cells, start=1):
        source = cell.get("source", "")
        if source.lstrip().startswith("%%"):
            skipped.append(f"code cell {number}: a cell magic ({source.split()[0]})")
            continue
        cell_lines = _strip_magics(source).split("\n")
        if run_all:
            spans = [(1, len(cell_lines))]
        else:
            try:
                tree = ast.parse("\n".join(cell_lines))
            except SyntaxError as e:
                skipped.append(f"code cell {number}: SyntaxError at line {e.lineno} "
                               f"({e.msg}), so nothing in it was run")
                continue
            spans = []
            for stmt in tree.body:
                first = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list",
                                                                         [])])
                missing = _missing_module(stmt)
                if missing:
                    skipped.append(f"code cell {number}, line {first}: import of {missing}, "
                                   "which is not installed where the grader runs")
                elif _is_definition(stmt):
                    spans.append((first, stmt.end_lineno))
                elif not _is_silent(stmt):
                    text = cell_lines[first - 1].strip()
                    skipped.append(f"code cell {number}, line {first}: "
                                   f"{text[:60] + ('…' if len(text) > 60 else '')}")
        for first, last in spans:
            for k in range(first, last + 1):
                lines.append(cell_lines[k - 1])
                origins.append((number, k))
    return Module("\n".join(lines) + "\n", origins, skipped)
