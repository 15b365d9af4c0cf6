"""From what a student handed in (a .py, a notebook, a folder or a .zip) to one .py to run.

A folder or archive may hold several candidates (backprop.py and backprop.ipynb, several
notebooks): the grader picks the one that implements the most of the assignment's
functions and says which file it graded and why. Nothing is extracted from an archive but
that one file, read with a size cap; links are refused.
"""

from __future__ import annotations

import ast
import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from collections.abc import Callable

from grader import notebooks

PREFERRED = ("backprop.py", "backprop.ipynb")
SUFFIXES = (".py", ".ipynb")
IGNORED_PARTS = ("__MACOSX", ".ipynb_checkpoints", "__pycache__", ".git")
MAX_FILE_BYTES = 20 << 20
MAX_ENTRIES = 10_000


class SubmissionError(ValueError):
    """The path cannot be graded at all (missing, wrong kind of file): a usage error."""


@dataclass
class Prepared:
    """The module to run, the name to show, and what the student should know about it."""

    name: str
    source: bytes = b""
    notes: list[str] = field(default_factory=list)
    where: Callable[[int], str] = lambda line: f"line {line}"
    error: str | None = None  # the submission is unreadable: score 0 with this message
    left_out: dict[str, str] = field(default_factory=dict)  # function -> why it is missing
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (where, what): not run


@dataclass
class _Candidate:
    name: str  # relative path inside the folder or archive
    read: Callable[[], bytes]


def defined_names(source: bytes) -> set[str]:
    """The names a module defines at its top level (functions, classes, assignments)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def _implemented(source: bytes, wanted: set[str]) -> int:
    """How many of the wanted functions/answers the source defines with a real body (the
    last definition of a name counts, as in Python)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return 0
    done: dict[str, bool] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in wanted:
            body = [s for s in node.body if not (isinstance(s, ast.Expr) and
                                                 isinstance(s.value, ast.Constant))]
            done[node.name] = not all(isinstance(s, (ast.Raise, ast.Pass)) for s in body)
        elif isinstance(node, ast.Assign):
            values = getattr(node.value, "values", [])
            filled = bool(values) and not any(
                isinstance(v, ast.Constant) and v.value is None for v in values)
            done.update({t.id: filled for t in node.targets
                         if isinstance(t, ast.Name) and t.id in wanted})
    return sum(done.values())


def _module_source(name: str, data: bytes, run_all: bool) -> tuple[bytes, notebooks.Module | None]:
    if name.endswith(".ipynb"):
        module = notebooks.to_module(notebooks.read(data), run_all)
        return module.source.encode(), module
    return data, None


CONTINUATIONS = (b"else", b"elif", b"except", b"finally", b")", b"]", b"}")


def _block_starts(lines: list[bytes]) -> list[int]:
    """Indexes of the lines where a top-level statement (with its decorators) begins."""
    starts = []
    for i, line in enumerate(lines):
        if not line.strip() or line[:1].isspace() or line.startswith(b"#"):
            continue  # blank, indented or a comment
        if line.startswith(CONTINUATIONS) or (starts and lines[starts[-1]].startswith(b"@")
                                              and i == _next_code(lines, starts[-1])):
            continue  # part of the block above
        starts.append(i)
    return starts


def _next_code(lines: list[bytes], i: int) -> int:
    i += 1
    while i < len(lines) and (not lines[i].strip() or lines[i].startswith(b"#")):
        i += 1
    return i


DEFINED = re.compile(r"(?:async\s+)?def\s+(\w+)|(\w+)\s*=")


def without_broken_blocks(data: bytes) -> tuple[bytes, dict[str, str]]:
    """A .py treated like a notebook: a top-level block (a function, a class, a statement)
    with a syntax error is left out, line numbers kept, and everything else is graded.
    Returns the source and, per block left out, why (keyed by the name it defines)."""
    lines, notes = data.split(b"\n"), {}
    for _ in range(len(lines)):
        try:
            ast.parse(b"\n".join(lines))
            break
        except SyntaxError as e:
            if not e.lineno:
                break  # nowhere to point at: the child reports the error as it is
            starts = _block_starts(lines) or [0]
            first = max([s for s in starts if s <= e.lineno - 1] or [0])
            last = min([s for s in starts if s > first] + [len(lines)])
            text = lines[first].decode(errors="replace").strip()
            named = DEFINED.match(text)
            key = (named.group(1) or named.group(2)) if named else f"line {first + 1}"
            notes[key] = (f"line {first + 1}: SyntaxError at line {e.lineno} ({e.msg}), so "
                          f"this block was left out: {text[:60]}")
            lines[first:last] = [b""] * (last - first)
        except (ValueError, RecursionError, MemoryError):
            break  # NUL bytes, absurd nesting: the child reports it
    return b"\n".join(lines), notes


def _prepare_file(name: str, data: bytes, run_all: bool) -> Prepared:
    try:
        source, module = _module_source(name, data, run_all)
    except notebooks.NotebookError as e:
        return Prepared(name, error=f"{name} cannot be graded: {e}")
    if module is None:
        source, left_out = without_broken_blocks(source)
        return Prepared(name, source, list(left_out.values()), left_out=left_out)
    return Prepared(name, source, [], module.where, skipped=module.skipped)


def _choose(candidates: list[_Candidate], wanted: set[str], run_all: bool, where: str
            ) -> Prepared:
    if not candidates:
        raise SubmissionError(f"{where} holds no backprop.py or backprop.ipynb")
    if len(candidates) == 1:
        (only,) = candidates
        prepared = _prepare_file(PurePosixPath(only.name).name, only.read(), run_all)
        if PurePosixPath(only.name).name not in PREFERRED:
            prepared.notes.insert(0, f"graded {only.name}: the only Python file or notebook "
                                     f"in {where} (expected backprop.py or backprop.ipynb)")
        return prepared
    scored = []
    for c in candidates:
        data = c.read()
        try:
            source, _ = _module_source(c.name, data, run_all)
        except notebooks.NotebookError:
            source = b""
        preferred = PurePosixPath(c.name).name in PREFERRED
        scored.append((_implemented(source, wanted), preferred, c.name.endswith(".ipynb"),
                       c, data))
    scored.sort(key=lambda s: (-s[0], not s[1], not s[2], s[3].name))
    count, _, _, best, data = scored[0]
    prepared = _prepare_file(PurePosixPath(best.name).name, data, run_all)
    others = ", ".join(s[3].name for s in scored[1:])
    prepared.notes.insert(0, f"graded {best.name} ({count} of {len(wanted)} functions and "
                             f"answers implemented) rather than {others}: it implements the "
                             "most of the assignment (then backprop.* names, then notebooks "
                             "win ties); hand in one file to choose")
    return prepared


def _ignored(parts: tuple[str, ...]) -> bool:
    return any(p in IGNORED_PARTS or p.startswith("._") for p in parts)


def _folder_candidates(folder: Path) -> list[_Candidate]:
    found = []
    for i, path in enumerate(sorted(folder.rglob("*"))):
        if i > MAX_ENTRIES:
            raise SubmissionError(f"{folder} holds too many files")
        rel = path.relative_to(folder)
        if path.suffix not in SUFFIXES or _ignored(rel.parts) or len(rel.parts) > 3:
            continue
        info = path.lstat()
        if not stat.S_ISREG(info.st_mode):
            continue  # links to the solutions or /etc/shadow are not followed
        if info.st_size > MAX_FILE_BYTES:
            raise SubmissionError(f"{rel} is larger than {MAX_FILE_BYTES >> 20} MiB")
        found.append(_Candidate(rel.as_posix(), path.read_bytes))
    return found


def _zip_candidates(archive: zipfile.ZipFile, label: str) -> list[_Candidate]:
    found = []
    infos = archive.infolist()
    if len(infos) > MAX_ENTRIES:
        raise SubmissionError(f"{label} holds too many files")
    for info in infos:
        name = PurePosixPath(info.filename)
        is_link = stat.S_ISLNK(info.external_attr >> 16)
        if info.is_dir() or is_link or name.suffix not in SUFFIXES or _ignored(name.parts) \
                or len(name.parts) > 3 or name.is_absolute() or ".." in name.parts:
            continue
        found.append(_Candidate(info.filename, lambda info=info: _read_member(archive, info)))
    return found


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """Read one member, counting real bytes: the header's size may lie (zip bombs)."""
    with archive.open(info) as f:
        data = f.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise SubmissionError(f"{info.filename} is larger than {MAX_FILE_BYTES >> 20} MiB")
    return data


def prepare(path: Path, wanted: set[str], run_all: bool = False) -> Prepared:
    """What to run for `path`; SubmissionError for paths that cannot be graded at all."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise SubmissionError(f"{path} does not exist")
    if path.is_symlink():
        raise SubmissionError(f"{path} is a link; hand in the file itself")
    if path.is_dir():
        candidates = _folder_candidates(path)
        archives = [p for p in path.iterdir() if p.suffix == ".zip" and p.is_file()
                    and not p.is_symlink()]
        if candidates or len(archives) != 1:
            return _choose(candidates, wanted, run_all, str(path))
        path = archives[0]  # a folder holding just an upload's .zip
    if path.suffix == ".zip":
        try:
            with zipfile.ZipFile(path) as archive:
                candidates = _zip_candidates(archive, path.name)
                chosen = _choose(candidates, wanted, run_all, path.name)
        except zipfile.BadZipFile:
            return Prepared(path.name, error=f"{path.name} is not a valid zip archive")
        return chosen
    if path.suffix not in SUFFIXES:
        raise SubmissionError(f"{path} is not a .py, .ipynb, .zip or folder")
    if path.stat().st_size > MAX_FILE_BYTES:
        return Prepared(path.name, error=f"{path.name} is larger than "
                                         f"{MAX_FILE_BYTES >> 20} MiB")
    return _prepare_file(path.name, path.read_bytes(), run_all)
