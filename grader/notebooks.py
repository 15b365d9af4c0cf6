"""Turn a Jupyter notebook into the Python module that gets graded.

The rule (documented in the README and the template notebook): by default only
*definitions* are kept — imports, functions, classes, lambdas, and assignments whose right-
hand side calls nothing but numpy, math and pure builtins (`ONE = np.float64(1.0)`,
`W = np.arange(6).reshape(2, 3)`, answer dicts) — so a training loop, a plot, an `input()`
or a cell that raises or never ends costs the functions nothing. IPython magics, `!shell`
lines and help (`obj?`, `?obj`) are dropped when they are a whole statement, never inside a
string. With `run_all` every code cell runs, top to bottom, like "Restart & Run All". Every
skipped statement is reported once, with its cell and line.
"""

from __future__ import annotations

import ast
import importlib.util
import io
import json
import re
import sys
import tokenize
import warnings
from dataclasses import dataclass, field

MAX_NOTEBOOK_BYTES = 20 << 20
# A line magic, a shell escape (`files = !ls` too), or help on a name: `x?`, `??np.exp`.
MAGIC = re.compile(r"^\s*(%|!|\w+\s*=\s*[!%])|^\s*(\?{1,2}[\w.]+|[\w.]+\?{1,2})\s*$")
KEPT = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
ACTIVE = (ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)
LIBRARIES = ("numpy", "math")  # calls into these make values, never side effects that matter
PURE_BUILTINS = frozenset({
    "abs", "all", "any", "bool", "complex", "dict", "divmod", "enumerate", "filter", "float",
    "frozenset", "int", "isinstance", "len", "list", "map", "max", "min", "pow", "range",
    "reversed", "round", "set", "slice", "sorted", "str", "sum", "tuple", "zip"})


TOO_COMPLEX = (RecursionError, MemoryError)  # the parser's own limits, not a syntax error
# Python 3.10 has no such limit where it turns a parse into the syntax tree: a chain of
# about 100 000 binary operators, attributes, calls or subscripts (`1+1+…`, `a.b.b…`)
# overflows its C stack, and the grader dies. (Other chains stop in the parser itself.)
MAX_CHAIN = 50_000  # such operators in one statement, past which 3.10 raises as 3.11 does


class NotebookError(ValueError):
    """The notebook cannot be read; the message says why."""


def parse(source: str | bytes, flags: int = 0) -> ast.Module:
    """ast.parse for a student's code (`flags` as compile takes them), with the parser's
    limits raised as TOO_COMPLEX on every Python."""
    if sys.version_info < (3, 11) and _chained_too_deep(source):
        raise RecursionError("maximum recursion depth exceeded during ast construction")
    return compile(source, "<unknown>", "exec", ast.PyCF_ONLY_AST | flags, dont_inherit=True)


def _chained_too_deep(source: str | bytes) -> bool:
    """Does a statement hold more than MAX_CHAIN operators that may chain? Conservative:
    every operator but a separator or a closing bracket counts."""
    text = source.decode(errors="replace") if isinstance(source, bytes) else source
    if sum(map(text.count, "+-*/%@&|^<>.([")) < MAX_CHAIN:
        return False  # not even in the whole text: the usual case
    chain = 0
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.NEWLINE:
                chain = 0
            elif token.type == tokenize.OP and token.string not in ",:;=)]}":
                chain += 1
                if chain > MAX_CHAIN:
                    return True
    except (tokenize.TokenError, SyntaxError):
        pass  # what follows does not parse, so no tree is built
    return False


def unparsable(error: Exception) -> str:
    """Why Python's parser refused code, for the student: where and what, or its limits."""
    if isinstance(error, TOO_COMPLEX):
        return (f"too complex for Python's parser ({type(error).__name__}: an expression "
                "nested or chained too deeply)")
    where = f" at line {error.lineno}" if getattr(error, "lineno", None) else ""
    return f"{type(error).__name__}{where} ({getattr(error, 'msg', None) or error})"


@dataclass
class Module:
    """Python source made from a notebook, with where each of its lines came from."""

    source: str
    origins: list[tuple[int, int]]  # (code cell number, line in that cell) per line
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (where, what) not run
    left_out: dict[str, str] = field(default_factory=dict)  # name -> why it is not defined

    def where(self, line: int) -> str:
        if 1 <= line <= len(self.origins):
            cell, cell_line = self.origins[line - 1]
            return f"code cell {cell}, line {cell_line}"
        return f"line {line}"


def read(data: bytes) -> dict:
    """Parse notebook bytes (validated where grading would read more than cell types and
    sources), with a message a student can act on."""
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise NotebookError(f"the notebook is {len(data) >> 20} MiB; clear its outputs "
                            "(Kernel > Restart & Clear Output) and save again")
    if not data.lstrip().startswith(b"{"):
        raise NotebookError("the file is not a notebook (a notebook is a JSON object): is it "
                            "really an .ipynb file?")
    try:
        text = data.decode("utf-8")
        parsed = json.loads(text)
        version = parsed.get("nbformat")
    except UnicodeDecodeError:
        raise NotebookError("the notebook is not UTF-8 text: is it really an .ipynb file?") \
            from None
    except (ValueError, RecursionError):
        raise NotebookError("the notebook is not valid JSON (corrupted or truncated); open "
                            "it in Jupyter, save it again and resubmit") from None
    if version not in (3, 4):
        raise NotebookError(f"unsupported notebook format version {version!r}; expected 4 "
                            "(save it with a current Jupyter)")
    nb = _plain_cells(parsed) if version == 4 else None
    if nb is None:
        nb = _validated(text)
    if not any(c.get("cell_type") == "code" and c.get("source", "").strip()
               for c in nb.get("cells", [])):
        raise NotebookError("the notebook has no code cells")
    return nb


def _plain_cells(parsed: dict) -> dict | None:
    """A version 4 notebook's cells as grading reads them (type and source text), when
    every cell has exactly that shape; None sends anything else through nbformat. Grading
    reads nothing more, so the schema's other fields (outputs, metadata) need not cost a
    validation, nor nbformat's import."""
    cells = parsed.get("cells")
    if not isinstance(cells, list) or not all(
            isinstance(c, dict) and isinstance(c.get("cell_type"), str) and
            _is_source(c.get("source")) for c in cells):
        return None
    return {"cells": [{"cell_type": c["cell_type"], "source": "".join(c["source"])}
                      for c in cells]}


def _is_source(source: object) -> bool:
    """Text, or a list of lines, as the format allows."""
    return isinstance(source, str) or (
        isinstance(source, list) and all(isinstance(line, str) for line in source))


def _validated(text: str) -> dict:
    """Read, upgrade and validate with nbformat: older versions, and cells of other
    shapes."""
    import nbformat  # only such notebooks need it, and it is slow to import

    try:
        with warnings.catch_warnings():  # its warnings (a cell with no id) are not the
            warnings.simplefilter("ignore")  # student's to act on, and would top the report
            return nbformat.reads(text, as_version=4)
    except Exception as e:  # nbformat raises several types for malformed notebooks
        raise NotebookError(f"the notebook is malformed ({type(e).__name__}); open it in "
                            "Jupyter, save it again and resubmit") from None


def _string_lines(source: str) -> set[int]:
    """Lines (1-based) that lie inside a multi-line string: a docstring's "swap x?" or
    "!important" is text, not IPython syntax."""
    inside: set[int] = set()
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.STRING and token.end[0] > token.start[0]:
                inside.update(range(token.start[0] + 1, token.end[0] + 1))
    except (tokenize.TokenError, SyntaxError):
        pass  # broken code: ast.parse will say where
    return inside


def _strip_magics(source: str) -> str:
    lines = source.split("\n")
    magic = {i for i, line in enumerate(lines, start=1) if MAGIC.search(line)}
    if not magic:
        return source
    blanked = "\n".join("" if i in magic else line for i, line in enumerate(lines, start=1))
    magic -= _string_lines(blanked)
    return "\n".join("" if i in magic else line for i, line in enumerate(lines, start=1))


class Names:
    """What the notebook's own imports call numpy and math (`np`, `from numpy import exp`)."""

    def __init__(self, trees: list[ast.Module]):
        self.modules = {"np", "numpy", "math"}
        self.functions: set[str] = set()
        for tree in trees:
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    self.modules |= {a.asname or a.name for a in node.names
                                     if a.name.split(".")[0] in LIBRARIES}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and \
                        (node.module or "").split(".")[0] in LIBRARIES:
                    self.functions |= {a.asname or a.name for a in node.names}

    def is_library_call(self, call: ast.Call) -> bool:
        """A call of numpy, math or a pure builtin, or a method of what one returned
        (`np.arange(6).reshape(2, 3)`)."""
        func = call.func
        while isinstance(func, (ast.Attribute, ast.Call, ast.Subscript)):
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                return func.value.id in self.modules
            func = func.func if isinstance(func, ast.Call) else func.value
        if isinstance(func, ast.Name):
            return func.id in PURE_BUILTINS or func.id in self.functions
        return False


def _only_library_calls(value: ast.expr, names: Names) -> bool:
    """Does evaluating `value` call nothing but libraries? A lambda's body runs later."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Lambda):
            continue
        if isinstance(node, ACTIVE) or isinstance(node, ast.Call) and \
                not names.is_library_call(node):
            return False
        stack.extend(ast.iter_child_nodes(node))
    return True


def _is_definition(stmt: ast.stmt, names: Names) -> bool:
    if isinstance(stmt, KEPT):
        return True
    if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and stmt.value is not None:
        return _only_library_calls(stmt.value, names)
    if isinstance(stmt, ast.Try):  # try: import x / except ImportError: x = None
        blocks = stmt.body + stmt.orelse + stmt.finalbody + [
            s for handler in stmt.handlers for s in handler.body]
        return all(_is_definition(s, names) or isinstance(s, ast.Pass) for s in blocks)
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
    notebook's own `check(...)` and `use_pack(...)` calls."""
    if isinstance(stmt, ast.Pass):
        return True
    if isinstance(stmt, ast.Expr):
        value = stmt.value
        return isinstance(value, (ast.Constant, ast.Name)) or (
            isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and
            value.func.id in ("check", "use_pack"))
    return False


def _shorten(text: str) -> str:
    text = text.strip()
    return text[:60] + ("…" if len(text) > 60 else "")


def bound_names(stmt: ast.stmt) -> set[str]:
    """The top-level names a statement defines or assigns."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {stmt.name}
    targets = getattr(stmt, "targets", None) or [getattr(stmt, "target", None)]
    return {n.id for t in targets if t is not None for n in ast.walk(t)
            if isinstance(n, ast.Name)}


def _cell_magic_names(source: str) -> set[str]:
    """What a `%%` cell would define if it ran (its body is Python for `%%time`)."""
    try:
        body = parse(source.split("\n", 1)[1] if "\n" in source else "")
    except (SyntaxError, ValueError, *TOO_COMPLEX):
        return set()
    return {name for stmt in body.body for name in bound_names(stmt)}


def _why_not_defined(not_run: dict[str, str], kept: list[tuple[str, ast.stmt]]
                     ) -> dict[str, str]:
    """Names that only statements that did not run define, and names whose kept
    definition uses one of them: so that "defines no X" can say why."""
    defined = {name for _, stmt in kept for name in bound_names(stmt)}
    absent = {name: where for name, where in not_run.items() if name not in defined}
    why = {name: f"{name} is defined at {where}, which was not run" + (
        ": the grader runs no %% cell, so move the definition to a plain cell"
        if "%%" in where else "") for name, where in absent.items()}
    for where, stmt in kept:
        used = sorted({n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)} & set(absent))
        for name in bound_names(stmt) if used else ():
            why[name] = (f"{name} ({where}) uses {used[0]}, defined at {absent[used[0]]}, "
                         "which was not run")
    return why


def _plain_lines(source: str) -> str:
    """A cell's text with the line breaks Python's parser counts (\\r\\n and a lone \\r
    too) as \\n, which the line numbers of what is kept are counted in, and without the
    byte-order mark an editor may have left at its start."""
    return source.replace("\r\n", "\n").replace("\r", "\n").removeprefix("\ufeff")


def to_module(nb: dict, run_all: bool = False) -> Module:
    lines: list[str] = []
    origins: list[tuple[int, int]] = []
    skipped: list[tuple[str, str]] = []
    not_run: dict[str, str] = {}  # name -> where a statement that did not run defines it
    kept: list[tuple[str, ast.stmt]] = []  # (where, statement) of every kept definition
    cells: list[tuple[int, list[str], ast.Module | None]] = []
    code_cells = [c for c in nb["cells"] if c.get("cell_type") == "code"]
    for number, cell in enumerate(code_cells, start=1):
        source = _plain_lines(cell.get("source", ""))
        if source.lstrip().startswith("%%"):
            magic = source.split()[0]
            skipped.append((f"code cell {number}", f"a cell magic ({magic})"))
            not_run.update(dict.fromkeys(_cell_magic_names(source.lstrip()),
                                         f"code cell {number}, a {magic} cell"))
            continue
        cell_lines = _strip_magics(source).split("\n")
        # Parsed with --run-all too: one cell that does not parse must not stop the others.
        # (ValueError: a NUL character, or a lone surrogate.)
        try:
            tree = parse("\n".join(cell_lines))
        except (SyntaxError, ValueError, *TOO_COMPLEX) as e:
            skipped.append((f"code cell {number}", f"{unparsable(e)}, so nothing in it "
                                                   "was run"))
            continue
        cells.append((number, cell_lines, None if run_all else tree))
    names = Names([tree for _, _, tree in cells if tree is not None])
    for number, cell_lines, tree in cells:
        spans = [(1, len(cell_lines))] if tree is None else []
        for stmt in tree.body if tree is not None else ():
            first = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", [])])
            where = f"code cell {number}, line {first}"
            missing = _missing_module(stmt)
            if missing:
                skipped.append((where, f"import of {missing}, which is not installed where "
                                "the grader runs"))
            elif _is_definition(stmt, names):
                spans.append((first, stmt.end_lineno))
                kept.append((where, stmt))
            elif not _is_silent(stmt):
                skipped.append((where, _shorten(cell_lines[first - 1])))
                not_run.update(dict.fromkeys(bound_names(stmt), where))
        done = 0  # statements sharing a line (`a = 1; b = 2`) share it once
        for first, last in spans:
            for k in range(max(first, done + 1), last + 1):
                lines.append(cell_lines[k - 1])
                origins.append((number, k))
            done = max(done, last)
    return Module("\n".join(lines) + "\n", origins, skipped,
                  _why_not_defined(not_run, kept))
