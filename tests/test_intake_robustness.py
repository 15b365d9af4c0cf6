"""Nothing a student hands in can crash, hang or abort the grader: files built to make the
parser work quadratically, code too deep for the parser, and (below) archives and folders
built to break discovery. Each becomes that student's own report, with a reason."""

from __future__ import annotations

import ast
import csv
import io
import os
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from types import SimpleNamespace

import nbformat
import pytest
from hypothesis import example, given, settings, strategies as st
from nbformat.v4 import new_code_cell, new_notebook

from conftest import SOLUTION, check_json, run_cli
from grader import batch, discovery, notebooks, submissions
from grader.grading import grade

MUL = "def mul_backward(dout, x, y):\n    return dout * y, dout * x\n"
DEEP_SUM = "x = " + "+".join(["1"] * 200_000)  # past the parser's recursion limit
DEEP_NOT = "x = " + "not " * 100_000 + "1"  # past the parser's stack


def _table(path, *args: str) -> str:
    result = run_cli("check", path, *args)
    assert result.exit_code in (0, 1) and "Traceback" not in result.output, result.output
    return result.output


# ---- parsing is linear in the file's size ----------------------------------------------


@pytest.fixture
def parsed(monkeypatch) -> list[int]:
    """The length of every piece of a .py that the grader parses (counted, never timed)."""
    lengths = []
    parse_error = submissions._parse_error

    def counted(piece):
        lengths.append(len(piece.text))
        return parse_error(piece)

    monkeypatch.setattr(submissions, "_parse_error", counted)
    return lengths


def test_half_a_megabyte_of_broken_blocks_is_parsed_a_few_times_over_not_once_per_block(
        tmp_path, parsed):
    """Each broken block used to re-parse the whole file (158 s for 430 KB). Now the bytes
    parsed are a small multiple of the file's, and the function after the junk still
    earns its points (benchmarks/broken_blocks.py times 2 MB). The report names the first
    blocks left out and counts the rest (its notes; the table prints them as
    `test_a_report_says_how_many_blocks_...` shows)."""
    junk = "".join(f"def f{i:06d}(:\n" for i in range(40_000))
    path = tmp_path / "backprop.py"
    path.write_text(junk + MUL)
    assert path.stat().st_size > 500_000
    report, code = check_json(path, "--only", "mul")
    assert code == 0 and report["score"] == report["max_score"]
    assert len(parsed) <= 2 * 40_001 and sum(parsed) <= 3 * path.stat().st_size
    notes = "\n".join(report["notes"])
    assert "line 1: SyntaxError at line 1 (invalid syntax), so this block was left out" in \
        notes and "and 39980 more blocks with syntax errors were left out" in notes


VALID = {
    "function": "def {name}(x):\n    return x\n",
    "decorated": "@staticmethod\n@property\ndef {name}(x):\n    return x\n",
    "dict": "{name} = {{\n'a': 1,\n'b': [\n2, 3],\n}}\n",
    "string": '{name} = """\ndef broken(:\n"""\n',
    "continued": "{name} = 1 + \\\n2\n",
    "if": "if True:\n    {name} = 1\nelse:\n    {name} = 2\n",
    "try": "try:\n    {name} = 1\nexcept ImportError:\n    {name} = 2\nfinally:\n    pass\n",
    "class": "class {name}:\n    x = 1\n\n    def f(self):\n        return 1\n",
    "comment": "{name} = 3  # a comment after code\n# and one at column 0\n",
}
BROKEN = {
    "def": "def {name}(:\n    return 1\n",
    "assign": "{name} = = 1\n",
    "colon": "def {name}(x)\n    return x\n",
    "decorated": "@staticmethod\ndef {name}(x) return x\n",
    "no body": "def {name}(x):\n",
    "class": "class {name}(:\n    pass\n",
    "string": "{name} = 'not closed\n",
}
UNITS = st.lists(st.tuples(st.booleans(), st.sampled_from(sorted(VALID)),
                           st.sampled_from(sorted(BROKEN))), min_size=1, max_size=12)


@settings(max_examples=40, deadline=None)
@given(UNITS)
def test_each_broken_block_is_left_out_on_its_own_and_the_rest_kept_verbatim(units):
    """Files of valid and broken top-level blocks, in any order: every broken block is
    blanked and noted under the name it defines, every valid one kept as it was, line
    numbers unchanged, and what is left parses."""
    source, names, broken = [], [], set()
    for i, (ok, valid, bad) in enumerate(units):
        name = f"name{i}"
        source.append((VALID[valid] if ok else BROKEN[bad]).format(name=name))
        names.append(name)
        if not ok:
            broken.add(name)
    data = "".join(source).encode()
    repaired, left_out = submissions.without_broken_blocks(data)
    assert set(left_out) == broken
    assert repaired.count(b"\n") == data.count(b"\n")
    ast.parse(repaired)
    kept = repaired.decode()
    for text, name in zip(source, names):
        assert (text in kept) == (name not in broken), (text, kept)


@pytest.mark.parametrize("junk", [
    "x = (1,\n" * 100_000,  # brackets that never close, nested past the parser's limit
    "if x:\n" * 100_000,  # bodies that never come
    "@decorator\n" * 100_000 + "x = 1\n",  # decorators of what cannot be decorated
    "x = \\\n" * 100_000 + "1 1\n",  # one line continued 100 000 times
    "x = '''\n" * 100_001,  # a string that never ends
], ids=["unclosed", "no-body", "decorators", "continued", "string"])
def test_constructs_that_never_end_cost_a_bounded_parse(junk, parsed):
    """Built so that every block may belong to the next: the parsing stays within a small
    multiple of the file, and the file comes back parseable, its junk left out."""
    data = (junk + MUL).encode()
    repaired, left_out = submissions.without_broken_blocks(data)
    assert sum(parsed) <= 5 * len(data) + (4 << 20) and left_out
    assert "mul_backward" in submissions.defined_names(repaired) or \
        any("stopped looking for more" in why for why in left_out.values())


# ---- the parser's own limits ----------------------------------------------------------


@pytest.mark.parametrize("newline", [b"\r", b"\r\n"], ids=["cr", "crlf"])
def test_a_py_with_other_line_breaks_keeps_all_but_its_broken_block(tmp_path, newline):
    """With lone \\r line breaks (old Mac editors) the whole file read as one line: one
    broken block left nothing, and the file was "not Python"."""
    path = tmp_path / "backprop.py"
    source = SOLUTION.read_bytes() + b"\ndef broken(:\n    pass\n"
    path.write_bytes(source.replace(b"\n", newline))
    report, code = check_json(path)
    broken = source.count(b"\n") - 1  # the line `def broken(:` starts on
    assert code == 0 and report["score"] == report["max_score"], report["error"]
    assert any(n.startswith(f"line {broken}: SyntaxError") for n in report["notes"]), \
        report["notes"]


@pytest.mark.parametrize("statement", [DEEP_SUM, DEEP_NOT], ids=["recursion", "memory"])
def test_code_too_deep_for_the_parser_is_left_out_of_a_py_with_its_reason(
        tmp_path, statement):
    path = tmp_path / "backprop.py"
    path.write_text(f"{statement}\n\n{MUL}")
    report, code = check_json(path, "--only", "mul")
    assert code == 0 and report["error"] is None
    assert "line 1: too complex for Python's parser" in _table(path, "--only", "mul")


@pytest.mark.parametrize("statement", [DEEP_SUM, DEEP_NOT, "x = 1\0"],
                         ids=["recursion", "memory", "nul"])
def test_a_notebook_cell_the_parser_refuses_is_skipped_with_its_reason(tmp_path, statement):
    """It used to be a RecursionError or MemoryError in the grader: a traceback in `check`,
    an internal error on Gradescope and PrairieLearn."""
    nb = new_notebook(cells=[new_code_cell(SOLUTION.read_text()), new_code_cell(statement)])
    path = tmp_path / "backprop.ipynb"
    nbformat.write(nb, str(path))
    report, code = check_json(path)
    assert code == 0 and report["score"] == report["max_score"]
    table = _table(path)
    assert "code cell 2" in table and "so nothing in it was run" in table
    if statement != "x = 1\0":
        assert "too complex for Python's parser" in table


@pytest.mark.parametrize("chain", ["+".join(["1"] * 60_000), "a" + ".b" * 60_000,
                                   "f" + "()" * 60_000, "a" + "[0]" * 60_000])
def test_python_3_10_never_builds_a_tree_deep_enough_to_crash_the_grader(chain, monkeypatch):
    """3.10 has no recursion limit where it builds the syntax tree: about 100 000 chained
    operators overflow its C stack (a segfault, in `check` or a batch worker). Such a
    statement is refused before the tree is built, as 3.11 refuses it."""
    built = []  # what reached the parser
    monkeypatch.setattr(notebooks, "sys", SimpleNamespace(version_info=(3, 10)))
    monkeypatch.setattr(notebooks, "compile", lambda *args, **kw: built.append(args[0]),
                        raising=False)
    with pytest.raises(RecursionError):
        notebooks.parse(f"x = 1\ny = {chain}\n")
    flat = "x = [" + "-1.5, " * 30_000 + "]"  # as long, but not chained
    notebooks.parse(flat)
    assert built == [flat]


def test_a_statement_python_parses_but_cannot_compile_is_skipped_not_fatal(write):
    """`return` outside a function parses (ast.parse) but does not compile: it costs that
    statement, like one that raises, not the whole file."""
    path = write(SOLUTION.read_text() + "\nreturn 5\n")
    report, code = check_json(path)
    assert code == 0 and report["score"] == report["max_score"]
    assert "'return' outside function" in _table(path)


def test_choosing_between_files_survives_one_too_deep_to_parse(tmp_path):
    (tmp_path / "backprop.py").write_text(SOLUTION.read_text())
    (tmp_path / "scratch.py").write_text(DEEP_SUM + "\n")
    report, code = check_json(tmp_path)
    assert code == 0 and report["submission"] == "backprop.py"


def test_statements_sharing_a_line_are_kept_once():
    """`a = 1; a += 1` ran twice (once per statement on the line); 50 000 of them on one
    line made the module 50 000 times the cell."""
    cell = "n = 0; n += 1\n" + "m = 0; " * 50_000
    module = notebooks.to_module(new_notebook(cells=[new_code_cell(cell)]))
    namespace: dict = {}
    exec(module.source, namespace)
    assert namespace["n"] == 1 and len(module.source) < 2 * len(cell)


def test_a_report_says_how_many_blocks_were_left_out_beyond_those_it_names(write):
    """Named: the first 20, and any function of the assignment (its exercise says why it is
    missing); the others counted. What a platform lists as syntax errors stays short."""
    junk = "".join(f"def f{i}(:\n" for i in range(30))
    path = write(junk + "def relu_backward(dout, x) return dout\n" + MUL)
    table = _table(path, "--only", "mul")
    assert "and 11 more blocks with syntax errors were left out" in table
    assert table.count("so this block was left out") == 20
    report, _ = check_json(path, "--only", "relu")
    assert "line 31: SyntaxError at line 31" in report["exercises"][0]["hints"][0]
    assert len(grade(path).syntax_errors) == 21


# ---- discovery: archives and folders built to break it ----------------------------------


WANTED = None  # the default assignment's functions, loaded once


def _wanted() -> set[str]:
    global WANTED
    if WANTED is None:
        from grader.exercises import load_assignment

        WANTED = load_assignment().functions
    return WANTED


MEMBER_NAMES = ["backprop.py", "backprop.ipynb", "x", "x/y.py", "x/backprop.py", "/abs.py",
                "../up.py", "a/../../b.py", "./c.py", "d/", ".", "__MACOSX/._backprop.py",
                "s/s/s/deep.py", "n" * 300 + ".py", "back\\slash.py", "inner.zip", "C:/w.py"]
MEMBER_KINDS = ["solution", "junk", "link", "encrypted", "unsupported", "corrupt", "nested"]
MEMBERS = st.lists(st.tuples(st.sampled_from(MEMBER_NAMES), st.sampled_from(MEMBER_KINDS)),
                   max_size=8)


def _central(data: bytearray, name: str, offset: int, value: bytes) -> None:
    """Overwrite a field of `name`'s central directory records (what zipfile trusts)."""
    encoded, at = name.encode(), 0
    while (at := data.find(b"PK\x01\x02", at)) >= 0:
        length = int.from_bytes(data[at + 28:at + 30], "little")
        if data[at + 46:at + 46 + length] == encoded:
            data[at + offset:at + offset + len(value)] = value
        at += 4


def _zip(members: list[tuple[str, str]], outside: str) -> bytes:
    """A zip of `members`: links to `outside`, members marked encrypted or compressed by an
    unknown method, one whose bytes do not match its CRC, a zip inside the zip."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for i, (name, kind) in enumerate(members):
            info = zipfile.ZipInfo(name)
            data = f"# member {i}\n{SOLUTION.read_text() if kind == 'solution' else 'x = (1,'}"
            if kind == "link":
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                data = outside
            elif kind == "nested":
                data = _zip([("backprop.py", "solution")], outside)
            z.writestr(info, data)
    data = bytearray(buffer.getvalue())
    for i, (name, kind) in enumerate(members):
        if kind == "encrypted":
            _central(data, name, 8, b"\x01\x00")
        elif kind == "unsupported":
            _central(data, name, 10, b"\x63\x00")
        elif kind == "corrupt":
            data = data.replace(f"# member {i}\n".encode(), f"# member {i}!".encode(), 1)
    return bytes(data)


STUDENTS = st.lists(st.tuples(st.sampled_from(["alice", "Alice", "bob", "carol"]),
                              st.sampled_from(["py", "ipynb", "folder", "zip"]), MEMBERS),
                    min_size=1, max_size=6)


def _class(folder: Path, students, outside: Path) -> set[str]:
    """A plain class folder; the students it holds, by the name their entries share."""
    folder.mkdir()
    for name, kind, members in students:
        if kind == "folder":
            (folder / name).mkdir(exist_ok=True)
            (folder / name / "backprop.py").write_text(SOLUTION.read_text())
            (folder / name / "inner.zip").write_bytes(_zip(members, str(outside)))
            for link, target in [("up.py", outside / "secret.py"), ("out", outside)]:
                if not (folder / name / link).is_symlink():
                    (folder / name / link).symlink_to(target)
            if not (folder / name / "pipe.py").exists():
                os.mkfifo(folder / name / "pipe.py")  # copied, read or hashed, it would block
        elif kind == "zip":
            (folder / f"{name}.zip").write_bytes(_zip(members, str(outside)))
        else:
            (folder / f"{name}.{kind}").write_text(SOLUTION.read_text())
    return {name.casefold() for name, _, _ in students}


def _snapshot(root: Path, skip: Path) -> dict[str, tuple]:
    return {str(p): (p.is_symlink(), p.lstat().st_size, p.lstat().st_mtime_ns)
            for p in root.rglob("*") if skip not in (p, *p.parents)}


ISSUE_18 = [("alice", "py", []), ("alice", "zip", [("x", "junk"), ("x/y.py", "solution")])]


@pytest.mark.filterwarnings("ignore:Duplicate name")  # duplicate members are the point
@settings(max_examples=40, deadline=None)
@given(STUDENTS, MEMBERS, st.booleans())
@example(ISSUE_18, [], False)
@example(ISSUE_18, [("x", "junk"), ("x/y.py", "junk"), ("x", "encrypted")], True)
def test_discovery_never_raises_leaves_no_student_out_and_writes_only_in_staging(
        students, class_members, zipped):
    """Archives with colliding, absolute, `..`, link, duplicate, encrypted, damaged and
    nested members; one student's .py, .ipynb, folder and .zip clashing by name; the class
    as a folder or as a .zip: discovery and what the batch then does with each entry
    (hash it, prepare it) never raise but SubmissionError, which the batch turns into that
    student's report; every student has an entry, and nothing outside the staging folder
    changes."""
    with tempfile.TemporaryDirectory() as tmp:
        top = Path(tmp)
        outside = top / "outside"
        outside.mkdir()
        (outside / "secret.py").write_text(SOLUTION.read_text())
        expected = _class(top / "class", students, outside)
        path = top / "class"
        if zipped:
            path = top / "class.zip"
            shutil.make_archive(str(top / "class"), "zip", top, "class")
            with zipfile.ZipFile(path, "a") as z:  # and the class's own odd members
                for name, data in zip(["class/" + n for n, _ in class_members],
                                      [_zip([m], str(outside)) for m in class_members]):
                    z.writestr(name, data)
        staging = top / "staging"
        staging.mkdir()
        before = _snapshot(top, staging)
        found = discovery.discover(path, staging)
        for entry in found.entries:
            if entry.path is not None and entry.path.exists():
                batch.content_hash(entry.path)
                try:
                    submissions.prepare(entry.path, _wanted())
                except submissions.SubmissionError:
                    pass
        assert _snapshot(top, staging) == before
        assert expected <= {PurePosixPath(e.key).stem.casefold() for e in found.entries}


def test_a_batch_grades_every_student_whatever_their_archives_hold(tmp_path):
    """The issue's class: `alice.py` next to an `alice.zip` whose members collide (`x`,
    then `x/y.py`) aborted the batch before anyone was graded."""
    cls = tmp_path / "class"
    cls.mkdir()
    (cls / "alice.py").write_text(SOLUTION.read_text())
    (cls / "alice.zip").write_bytes(_zip([("x", "junk"), ("x/y.py", "junk")], "/"))
    (cls / "bob.zip").write_bytes(_zip([("backprop.py", "encrypted")], "/"))
    (cls / "carol").mkdir()
    (cls / "carol" / "backprop.py").write_text(SOLUTION.read_text())
    (cls / "carol" / "up.py").symlink_to(tmp_path)
    os.mkfifo(cls / "carol" / "pipe.py")
    (cls / "carol.zip").write_bytes(_zip([("backprop.py", "corrupt")], "/"))
    (cls / "dave.zip").write_bytes(b"PK\x03\x04 not really a zip")
    os.mkfifo(cls / "eve.py")  # reading it would block the worker for good
    os.mkfifo(cls / "eve.zip")
    out = tmp_path / "out"
    result = run_cli("grade", cls, "-o", out)
    assert result.exit_code == 0, result.output
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as f:
        book = {row["student"]: row for row in csv.DictReader(f)}
    assert sorted(book) == ["alice", "bob", "carol", "dave", "eve"]
    assert float(book["alice"]["total"]) == 100 and float(book["carol"]["total"]) == 100
    assert "x/y.py was not unpacked: a file and a folder of that name" in \
        book["alice"]["remarks"]
    assert "carol.zip: backprop.py was not unpacked: it is damaged" in book["carol"]["remarks"]
    assert float(book["bob"]["total"]) == 0 and "it is encrypted" in book["bob"]["remarks"]
    assert float(book["dave"]["total"]) == 0 and "not a valid zip" in book["dave"]["remarks"]
    assert float(book["eve"]["total"]) == 0 and "eve.zip: left out: not a regular file" in \
        book["eve"]["remarks"]


def test_a_file_the_grader_cannot_read_costs_its_student_not_the_batch(tmp_path,
                                                                       monkeypatch):
    """For a TA who is not root, a student's file of mode 000 aborted the batch before
    anyone was graded (PermissionError while noting what changed since the last run), and
    a link in a student's folder was read through (`/proc/kcore` never ends). Simulated, as
    the tests may run as root: reading that file fails."""
    cls = tmp_path / "class"
    (cls / "alice").mkdir(parents=True)
    (cls / "alice" / "backprop.py").write_text(SOLUTION.read_text())
    (cls / "alice" / "locked.bin").write_bytes(b"x")
    (tmp_path / "outside.bin").write_bytes(b"y")
    (cls / "alice" / "outside.bin").symlink_to(tmp_path / "outside.bin")
    (cls / "bob.py").write_text(SOLUTION.read_text())
    read, seen = Path.read_bytes, []

    def guarded(self):
        seen.append(self.name)
        if self.name == "locked.bin":
            raise PermissionError(13, "Permission denied", str(self))
        return read(self)

    monkeypatch.setattr(Path, "read_bytes", guarded)
    result = run_cli("grade", cls, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    with open(tmp_path / "out" / "gradebook.csv", newline="", encoding="utf-8") as f:
        assert {row["student"]: float(row["total"]) for row in csv.DictReader(f)} == {
            "alice": 100, "bob": 100}
    assert "locked.bin" in seen and "outside.bin" not in seen
