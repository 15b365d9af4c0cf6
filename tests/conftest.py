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


def run_cli(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


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
