"""From what a student handed in (a .py, a notebook, a folder or a .zip) to one .py to run.

A folder or archive may hold several candidates (backprop.py and backprop.ipynb, several
notebooks): the grader picks the one that implements the most of the assignment's
functions and says which file it graded and why. Nothing is extracted from an archive but
that one file, read with a size cap; links are refused.
"""

from __future__ import annotations

import ast
import bisect
import codeop
import io
import lzma
import re
import stat
import tokenize
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from collections.abc import Callable

from grader import notebooks

STEM = "backprop"  # the lecture's file name; a course pack names its own (layers)
SUFFIXES = (".py", ".ipynb")
IGNORED_PARTS = ("__MACOSX", ".ipynb_checkpoints", "__pycache__", ".git")
MAX_FILE_BYTES = 20 << 20
MAX_ENTRIES = 10_000


class SubmissionError(ValueError):
    """The path cannot be graded at all (missing, wrong kind of file): a usage error."""


class Unreadable(SubmissionError):
    """A file or archive member the student handed in cannot be read: their score is 0."""


# What reading a student's file or archive member may raise: a file the grader may not
# read (OSError), a damaged or truncated member (BadZipFile for a bad CRC, zlib, lzma,
# EOFError), an encrypted one (RuntimeError), a compression method Python lacks.
UNREADABLE = (OSError, EOFError, RuntimeError, NotImplementedError, zipfile.BadZipFile,
              zlib.error, lzma.LZMAError)


def unreadable(error: BaseException) -> str:
    """Why a file or member could not be read, and what to do (without the grader's own
    paths)."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    if isinstance(error, RuntimeError) and "encrypted" in str(error):
        return "it is encrypted: make the archive without a password"
    if isinstance(error, NotImplementedError):
        return f"{error}: make the archive with ordinary (deflate) compression"
    return f"it is damaged ({error or type(error).__name__}): make the archive again"


def as_text(name: str) -> str:
    """A name read from the file system as text that can be written anywhere: a name that
    is not UTF-8 (a zip made on Windows) decodes with surrogates, which no UTF-8 file or
    terminal takes; its odd bytes are spelled out (`caf\\xe9`), so two names stay apart."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def as_name(name: str) -> str:
    """A student's or a file's name as one inert line (`as_text`, and control characters
    spelled out: `eve\\x1b[8m`, `a\\nb`): a name is printed in lists and rows, where a line
    break or an escape sequence of its own could fake or hide those of others."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], as_text(name))


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
    not_run: dict[str, str] = field(default_factory=dict)  # name -> why it is not defined

    def __post_init__(self):
        self.name = as_name(self.name)
        self.error = self.error and as_text(self.error)


@dataclass
class _Candidate:
    """A file of a folder or an archive that may be the submission."""

    name: str  # relative path inside the folder or archive
    read: Callable[[], bytes]


def _parsed(source: bytes) -> ast.Module:
    """The module's syntax tree; an empty one if Python cannot parse it."""
    try:
        return notebooks.parse(source)
    except (SyntaxError, ValueError, *TOO_COMPLEX):
        return ast.Module([], [])


def defined_names(source: bytes) -> set[str]:
    """The names a module defines at its top level (functions, classes, assignments)."""
    names = set()
    for node in _parsed(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def _implemented(source: bytes, wanted: set[str]) -> int:
    """How many of the wanted functions/answers the source defines with a real body (the
    last definition of a name counts, as in Python)."""
    done: dict[str, bool] = {}
    for node in _parsed(source).body:
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
    # Line breaks as Python's parser counts them (a lone \r too: old Mac editors), so that
    # the blocks and lines found here are those Python finds (as `notebooks` does per cell).
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n"), None


CONTINUATIONS = (b"else", b"elif", b"except", b"finally", b")", b"]", b"}")


def _block_starts(lines: list[bytes]) -> list[int]:
    """Indexes of the lines where a top-level statement begins: a line of code at column 0
    that does not continue the one above (`else:`, a closing bracket, the line after a
    backslash, what a decorator decorates)."""
    starts, decorating, continued = [], False, False
    for i, line in enumerate(lines):
        if line.strip() and not line[:1].isspace() and not line.startswith(b"#"):
            if not (decorating or continued or line.startswith(CONTINUATIONS)):
                starts.append(i)
            decorating = line.startswith(b"@") or (decorating and
                                                    line.startswith(CONTINUATIONS))
        # A backslash in a comment continues nothing; one after a `#` in a string is rare.
        continued = line.rstrip().endswith(b"\\") and b"#" not in line
    return starts


DEFINED = re.compile(r"(?:async\s+)?(?:def|class)\s+(\w+)|(\w+)\s*=")
# How CPython 3.10-3.13 says that a text stops inside a bracket, a string or an unfinished
# statement: "incomplete input" (with this flag), or the tokenizer's own end-of-text error
# when the text also holds an error before its end. `_Blocks.piece` cuts the file between
# blocks, and a block start may lie inside such a construct (a dict's entries at column 0).
INCOMPLETE = getattr(codeop, "PyCF_ALLOW_INCOMPLETE_INPUT", 0)
ENDED_EARLY = re.compile(r"incomplete input|was never closed|unexpected EOF|"
                         r"unterminated .*literal \(detected at line (\d+)\)")
# The statement a body should have followed is at fault, not the line after it.
NO_BODY = re.compile(r"expected an indented block after .* on line (\d+)")
TOO_COMPLEX = notebooks.TOO_COMPLEX


@dataclass
class _Piece:
    """Consecutive kept blocks of a file, as one text to parse."""

    text: bytes
    origins: list[int]  # the file's line index of each line of `text`
    blocks: list[int]
    end: int  # the first kept block after the piece (`_Blocks.count` at the end)
    more: bool  # blocks follow: an error at the end of `text` may be where it was cut

    def line(self, lineno: int) -> int:
        """The file's line index of the text's line `lineno` (past the end: its last)."""
        return self.origins[min(max(lineno, 1), len(self.origins)) - 1]

    def message(self, error: SyntaxError) -> str:
        """The parser's message, its line numbers ("after 'if' statement on line 2") the
        file's."""
        return re.sub(r"\bline (\d+)", lambda m: f"line {self.line(int(m.group(1))) + 1}",
                      error.msg)


class _Blocks:
    """A .py cut into top-level blocks (a statement with its decorators, the comments after
    it and its continuation lines), some of them left out, each with a note."""

    def __init__(self, data: bytes):
        self.lines = data.split(b"\n")
        self.bounds = sorted({0, *_block_starts(self.lines)}) + [len(self.lines)]
        self.count = len(self.bounds) - 1  # block i: lines[bounds[i]:bounds[i + 1]]
        self.after = list(range(self.count + 1))  # a left-out block points further on
        self.header = _coding_line(data)
        self.notes: dict[str, str] = {}
        self.faults = 0  # blocks left out (several may define one name: one note)

    def kept(self, block: int) -> int:
        """The first block at or after `block` that is not left out (`count` at the end);
        runs of left-out blocks are crossed in near-constant time (path halving)."""
        while self.after[block] != block:
            self.after[block] = self.after[self.after[block]]
            block = self.after[block]
        return block

    def leave_out(self, blocks: list[int], why: str) -> None:
        """Leave out `blocks`, noted with `why` under the name the first one defines (or
        the line of its statement)."""
        for block in blocks:
            self.after[block] = block + 1
        self.faults += 1
        first = self.head(blocks[0])
        text = self.lines[first].decode(errors="replace").strip()
        named = DEFINED.match(text)
        key = (named.group(1) or named.group(2)) if named else f"line {first + 1}"
        self.notes[key] = f"line {first + 1}: {why}: {text[:60]}"

    def head(self, block: int) -> int:
        """The line where the block's statement begins, after its decorators."""
        for line in range(self.bounds[block], self.bounds[block + 1]):
            text = self.lines[line]
            if text.strip() and not text[:1].isspace() and \
                    not text.startswith((b"@", b"#", *CONTINUATIONS)):
                return line
        return self.bounds[block]

    def piece(self, start: int, size: int) -> _Piece:
        """Up to `size` kept blocks from `start`; a run of left-out ones between two is one
        blank line (the tokens of the blanked file, not its length)."""
        body, origins, blocks = [self.header] if self.header else [], [], []
        block = start
        while block < self.count and len(blocks) < size:
            if blocks and block != blocks[-1] + 1:
                body.append(b"")
                origins.append(self.bounds[blocks[-1] + 1] - 1)  # the block before it
            first, end = self.bounds[block], self.bounds[block + 1]
            body += self.lines[first:end]
            origins += range(first, end)
            blocks.append(block)
            block = self.kept(block + 1)
        origins[:0] = origins[:1] * (len(body) - len(origins))  # the coding line
        return _Piece(b"\n".join(body), origins, blocks, block, block < self.count)

    def block_of(self, line: int) -> int:
        return bisect.bisect_right(self.bounds, line) - 1

    def source(self) -> bytes:
        """The file with every left-out block blanked, line numbers kept."""
        lines = list(self.lines)
        for block in range(self.count):
            if self.after[block] != block:
                first, end = self.bounds[block], self.bounds[block + 1]
                lines[first:end] = [b""] * (end - first)
        return b"\n".join(lines)


def _coding_line(data: bytes) -> bytes:
    """The file's coding declaration, for every piece of it (the file states it once, in
    its first lines); nothing for UTF-8."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError:
        return b""  # a bad declaration: the piece holding it says so
    return b"" if encoding in ("utf-8", "utf-8-sig") else f"# coding: {encoding}".encode()


def _parse_error(piece: _Piece) -> Exception | None:
    """Why `piece` does not parse: a SyntaxError or one of TOO_COMPLEX; None if it does."""
    try:
        notebooks.parse(piece.text, INCOMPLETE if piece.more else 0)
    except (SyntaxError, *TOO_COMPLEX) as e:
        return e
    return None


def _ended_early(error: Exception, piece: _Piece) -> bool:
    """Did the parser stop at the end of a piece that the next blocks may complete?"""
    found = piece.more and ENDED_EARLY.search(str(getattr(error, "msg", "")))
    if not found:
        return False
    return found.group(1) is None or \
        int(found.group(1)) >= piece.text.rstrip().count(b"\n") + 1


def without_broken_blocks(data: bytes) -> tuple[bytes, dict[str, str]]:
    """A .py treated like a notebook: a top-level block (a function, a class, a statement)
    with a syntax error, or too complex for Python's parser, is left out, line numbers
    kept, and everything else is graded. Returns the source and, per block left out, why
    (keyed by the name it defines). Linear in the file's size (`_leave_out_broken`)."""
    try:
        notebooks.parse(data)
        return data, {}
    except (SyntaxError, *TOO_COMPLEX):
        pass
    except ValueError:
        return data, {}  # NUL bytes: the child reports them
    blocks = _Blocks(data)
    if not _leave_out_broken(blocks, _Budget(data, blocks)):
        return data, {}  # an error that points nowhere: the child reports it as it is
    return blocks.source(), blocks.notes


class _Budget:
    """How much parsing a file may take: a few times its bytes and a few calls per block,
    more than any file needs unless built to make the grader parse it over and over."""

    def __init__(self, data: bytes, blocks: _Blocks):
        self.bytes, self.calls = 4 * len(data) + (4 << 20), 4 * blocks.count + 1000

    def spend(self, piece: _Piece) -> bool:
        self.bytes -= len(piece.text)
        self.calls -= 1
        return self.bytes >= 0 and self.calls >= 0


def _leave_out_broken(blocks: _Blocks, budget: _Budget) -> bool:
    """Parse a piece of kept blocks at a time, never the whole file again: a piece that
    parses is done, and the next one is twice as long; a piece cut inside a construct
    grows; a piece with an error loses the block at fault, and the next one is the blocks
    before it; one too complex is retried a block at a time. The parsing is then a small
    multiple of the file's size; past `budget` the rest is left out unread. False when an
    error points nowhere."""
    start, size, grown = blocks.kept(0), 1, False
    while start < blocks.count:
        piece = blocks.piece(start, size)
        if not budget.spend(piece):
            _give_up(blocks, start)
            break
        error = _parse_error(piece)
        if error is None:
            start, size, grown = piece.end, size * 2, False
        elif _ended_early(error, piece):
            size, grown = size * 2, True
        elif isinstance(error, TOO_COMPLEX) and size > 1 and not grown:
            size = 1  # find the block at fault
        elif isinstance(error, TOO_COMPLEX):  # that block, or the construct it needed more for
            blocks.leave_out(piece.blocks, f"{notebooks.unparsable(error)}, so it was left "
                                           "out")
            start, size, grown = blocks.kept(start), 2, False
        elif error.lineno is None:
            return False
        else:
            no_body = NO_BODY.search(error.msg)
            block = blocks.block_of(piece.line(int(no_body[1]) if no_body else error.lineno))
            blocks.leave_out([block], f"SyntaxError at line {piece.line(error.lineno) + 1} "
                                      f"({piece.message(error)}), so this block was left out")
            start, size, grown = blocks.kept(start), max(2, piece.blocks.index(block)), False
    return True


def _give_up(blocks: _Blocks, start: int) -> None:
    rest = [start]
    while (block := blocks.kept(rest[-1] + 1)) < blocks.count:
        rest.append(block)
    blocks.leave_out(rest, f"after {blocks.faults} blocks with syntax errors the grader "
                           f"stopped looking for more, so lines {blocks.bounds[start] + 1}-"
                           f"{len(blocks.lines)} were left out unread: fix those errors first")


def _prepare_file(name: str, data: bytes, run_all: bool, wanted: set[str]) -> Prepared:
    try:
        source, module = _module_source(name, data, run_all)
    except notebooks.NotebookError as e:
        return Prepared(name, error=f"{name} cannot be graded: {e}")
    if module is None and b"\0" in source:
        return Prepared(name, error=_not_python(name, "SyntaxError: it holds NUL bytes, as binary files do"))
    if module is None:
        source, left_out = without_broken_blocks(source)
        if left_out and _runs_nothing(source):
            return Prepared(name, error=_not_python(name, next(iter(left_out.values()))))
        if _runs_nothing(source):  # as an empty notebook: nothing was handed in
            return Prepared(name, error=f"{name} is empty: it holds no code (only blank "
                                        "lines or comments, if anything)")
        # A block defining a graded function is said in its exercise's hint: not again.
        notes = [why for key, why in left_out.items() if key not in wanted]
        return Prepared(name, source, _listed(notes), left_out=_named(left_out, wanted))
    return Prepared(name, source, [], module.where, skipped=module.skipped,
                    not_run=module.left_out)


def _runs_nothing(source: bytes) -> bool:
    """Is what is left of a file, its broken blocks out, without a single statement?"""
    try:
        return not notebooks.parse(source).body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return True


def _not_python(name: str, first: str) -> str:
    """One message for a file no line of which is Python (a binary, a letter, a notebook
    saved as .py): not one 'defines no ...' per exercise with the cause in a note."""
    return (f"{name} is not Python: no statement in it could be read ({first}). Is it the "
            "file you meant to hand in? Save your code as plain text with a .py name (or "
            "hand in the .ipynb itself).")


MAX_LISTED = 20  # blocks left out that are named one by one; the others are counted


def _listed(notes: list[str]) -> list[str]:
    more = len(notes) - MAX_LISTED
    return notes if more <= 0 else notes[:MAX_LISTED] + [
        f"and {more} more blocks with syntax errors were left out"]


def _named(left_out: dict[str, str], wanted: set[str]) -> dict[str, str]:
    """The blocks left out that reports name (each platform's list of syntax errors): the
    first few, and every one defining a function or answer of the assignment."""
    return {key: why for i, (key, why) in enumerate(left_out.items())
            if i < MAX_LISTED or key in wanted}


def _choose(candidates: list[_Candidate], wanted: set[str], run_all: bool, where: str,
            stem: str) -> Prepared:
    preferred_names = (f"{stem}.py", f"{stem}.ipynb")
    expected = " or ".join(preferred_names)
    if not candidates:
        raise SubmissionError(f"{where} holds no {expected}")
    if len(candidates) == 1:
        (only,) = candidates
        prepared = _prepare_file(PurePosixPath(only.name).name, only.read(), run_all, wanted)
        if PurePosixPath(only.name).name not in preferred_names:
            prepared.notes.insert(0, f"graded {only.name}: the only Python file or notebook "
                                     f"in {where} (expected {expected})")
        return prepared
    scored = []
    for c in candidates:
        data = c.read()
        try:
            source, _ = _module_source(c.name, data, run_all)
        except notebooks.NotebookError:
            source = b""
        preferred = PurePosixPath(c.name).name in preferred_names
        scored.append((_implemented(source, wanted), preferred, c.name.endswith(".ipynb"),
                       c, data))
    scored.sort(key=lambda s: (-s[0], not s[1], not s[2], s[3].name))
    count, _, _, best, data = scored[0]
    prepared = _prepare_file(PurePosixPath(best.name).name, data, run_all, wanted)
    others = ", ".join(s[3].name for s in scored[1:])
    prepared.notes.insert(0, f"graded {best.name} ({count} of {len(wanted)} functions and "
                             f"answers implemented) rather than {others}: it implements the "
                             f"most of the assignment (then {stem}.* names, then notebooks "
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
        shown = rel.as_posix()
        found.append(_Candidate(shown, lambda p=path, r=shown: _read_file(p, r)))
    return found


def _read_file(path: Path, shown: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise Unreadable(f"{shown} cannot be read: {unreadable(e)}") from None


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
    try:
        with archive.open(info) as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except UNREADABLE as e:
        raise Unreadable(f"{info.filename} cannot be read from the archive: "
                         f"{unreadable(e)}") from None
    if len(data) > MAX_FILE_BYTES:
        raise SubmissionError(f"{info.filename} is larger than {MAX_FILE_BYTES >> 20} MiB")
    return data


def _did_you_mean(path: Path) -> str:
    """The file a typo most likely meant (`backprpo.py` for `backprop.py`), in its folder."""
    try:
        names = [p.name for p in path.parent.iterdir()]
    except OSError:
        return ""
    import difflib  # only for a file that is not there

    close = difflib.get_close_matches(path.name, names, n=1)
    return f"; did you mean {path.parent / close[0]}?" if close else ""


def prepare(path: Path, wanted: set[str], run_all: bool = False, stem: str = STEM
            ) -> Prepared:
    """What to run for `path` (in a folder or archive, the file that implements the most of
    `wanted`, `stem`.py or .ipynb winning ties); SubmissionError for paths that cannot be
    graded at all. A file or member that cannot be read gets a report with score 0 and the
    reason."""
    try:
        return _prepare(Path(path), wanted, run_all, stem)
    except Unreadable as e:
        return Prepared(Path(path).name, error=str(e))


def _prepare(path: Path, wanted: set[str], run_all: bool, stem: str) -> Prepared:
    if not path.exists() and not path.is_symlink():
        raise SubmissionError(f"{path} does not exist{_did_you_mean(path)}")
    if path.is_symlink():
        raise SubmissionError(f"{path} is a link; hand in the file itself")
    if path.is_dir():
        candidates = _folder_candidates(path)
        archives = [p for p in path.iterdir() if p.suffix == ".zip" and p.is_file()
                    and not p.is_symlink()]
        if candidates or len(archives) != 1:
            return _choose(candidates, wanted, run_all, str(path), stem)
        path = archives[0]  # a folder holding just an upload's .zip
    if not path.is_file():  # a pipe or a device: reading it would block or never end
        raise Unreadable(f"{path.name} is not a regular file: hand in the file itself")
    if path.suffix == ".zip":
        try:
            archive = zipfile.ZipFile(path)
        except zipfile.BadZipFile:
            return Prepared(path.name, error=f"{path.name} is not a valid zip archive")
        except OSError as e:
            raise Unreadable(f"{path.name} cannot be read: {unreadable(e)}") from None
        with archive:
            return _choose(_zip_candidates(archive, path.name), wanted, run_all, path.name,
                           stem)
    if path.suffix not in SUFFIXES:
        raise SubmissionError(f"{path} is not a .py, .ipynb, .zip or folder")
    if path.stat().st_size > MAX_FILE_BYTES:
        return Prepared(path.name, error=f"{path.name} is larger than "
                                         f"{MAX_FILE_BYTES >> 20} MiB")
    return _prepare_file(path.name, _read_file(path, path.name), run_all, wanted)
