"""Shared helpers: run the real CLI, and build submissions from the solution + an override."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.cli import main

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
SUBMISSIONS = TESTS / "submissions"
SOLUTION = SUBMISSIONS / "solution.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Off Linux (the GitHub Actions macOS and Windows runners) only the portable path can
    be tested: the Linux sandbox simulations are skipped, saying why."""
    if sys.platform != "linux":
        skip = pytest.mark.skip(reason=f"simulates a Linux sandbox; this is {sys.platform}")
        for item in items:
            if item.get_closest_marker("linux"):
                item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def warm_fork_server():
    """`backprop check` starts its children from a warm fork server, started as the
    command loads (`forkserver.start_early`, keyed on argv, so never for the CLI run in
    this process). The checks run here in-process get the same: one fork server for the
    session, instead of a fresh interpreter importing numpy for every child. Tests of the
    fresh-interpreter path (`test_hostile`'s `spawn`, `test_whose_fault`) set
    `runner._zygote` themselves; if the server dies, the runner falls back to them."""
    from grader.sandbox import runner

    if runner._zygote is not None or not runner.use_zygote():
        yield None  # the portable path (macOS, Windows, unconfined) has no fork server
        return
    server = runner._zygote
    try:
        yield server
    finally:
        if runner._zygote is server:
            runner._zygote = None
        server.close()


def may_lose(exercise: str) -> set[str]:
    """Where a fault in `exercise` may cost points: itself only (the composition, which
    runs the student's own gates, is a diagnostic worth no points)."""
    return {exercise}


def header(path: Path) -> dict[str, str]:
    """The `# key: value` lines at the top of a corpus file."""
    fields = {}
    for line in path.read_text(errors="replace").splitlines():
        if not line.startswith("# ") or ":" not in line:
            break
        key, value = line[2:].split(":", 1)
        fields[key.strip()] = value.strip()
    return fields


def compose(directory: Path, override: Path | str, name: str = "backprop.py") -> Path:
    """The correct solution with some definitions replaced (later ones win in Python)."""
    extra = override.read_text() if isinstance(override, Path) else override
    path = directory / name
    path.write_text(SOLUTION.read_text() + "\n\n# ---- override ----\n" + extra)
    return path


def class_folder(directory: Path, **students: Path) -> Path:
    """A class folder with one .py per student, copied from the files given."""
    folder = directory / "class"
    folder.mkdir()
    for name, source in students.items():
        shutil.copyfile(source, folder / f"{name}.py")
    return folder


# Commands whose own process starts its children fresh: the platforms' entrypoints have no
# fork server (`check` starts one as it loads; batch workers each start their own).
FRESH_CHILDREN = {"gradescope", "prairielearn"}


def run_cli(*args: str):
    """The CLI, in this process, starting its children as the command's own process would:
    `check` from the session's warm fork server, the platforms' `run` fresh."""
    from grader.sandbox import runner

    args = [str(a) for a in args]
    kept = runner._zygote
    if args[:1] and args[0] in FRESH_CHILDREN:
        runner._zygote = None
    try:
        return CliRunner().invoke(main, args, catch_exceptions=False)
    finally:
        if args[:1] and args[0] in FRESH_CHILDREN:
            runner._zygote = kept


def check_json(submission: Path, *args: str) -> tuple[dict, int]:
    result = run_cli("check", submission, "--json", *args)
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout), result.exit_code


def scores(report: dict) -> dict[str, tuple[float, float]]:
    return {e["id"]: (e["score"], e["max_score"]) for e in report["exercises"]}


@pytest.fixture
def write(tmp_path):
    """Write a submission file from source text."""

    def _write(source: str, name: str = "backprop.py") -> Path:
        path = tmp_path / name
        path.write_text(source)
        return path

    return _write
