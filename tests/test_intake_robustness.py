"""Nothing a student hands in can crash, hang or abort the grader: files built to make the
parser work quadratically, code too deep for the parser, and (below) archives and folders
built to break discovery. Each becomes that student's own report, with a reason."""

from __future__ import annotations

import ast

import nbformat
import pytest
from hypothesis import given, settings, strategies as st
from nbformat.v4 import new_code_cell, new_notebook

from conftest import SOLUTION, check_json, run_cli
from grader import notebooks, submissions

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


def test_two_megabytes_of_broken_blocks_are_parsed_a_few_times_over_not_once_per_block(
        tmp_path, parsed):
    """Each broken block used to re-parse the whole file (158 s for 430 KB). Now the bytes
    parsed are a small multiple of the file's, and the function after the junk still
    earns its points."""
    junk = "".join(f"def f{i:06d}(:\n" for i in range(150_000))
    path = tmp_path / "backprop.py"
    path.write_text(junk + MUL)
    assert path.stat().st_size > 2_000_000
    report, code = check_json(path, "--only", "mul")
    assert code == 0 and report["score"] == report["max_score"]
    assert len(parsed) <= 2 * 150_001 and sum(parsed) <= 3 * path.stat().st_size
    table = _table(path, "--only", "mul")
    assert "line 1: SyntaxError at line 1 (invalid syntax), so this block was left out" in \
        table and "and 149980 more blocks with syntax errors were left out" in table


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
    path = write("".join(f"def f{i}(:\n" for i in range(30)) + MUL)
    table = _table(path, "--only", "mul")
    assert "and 10 more blocks with syntax errors were left out" in table
    assert table.count("so this block was left out") == 20
