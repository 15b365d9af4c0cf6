"""Course files are parsed once, as Python compiles a module once: a `check` whose YAML
files have not changed loads no YAML parser, and an edit, a private file or a folder the
grader may not write changes nothing of what is read."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, SOLUTION
from grader import yamlfiles


def course(tmp_path: Path) -> Path:
    folder = tmp_path / "course"
    shutil.copytree(ROOT / "exercises", folder, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def check(assignment: Path) -> tuple[dict, str]:
    """The installed command's report, and what it imported (`python -X importtime`)."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "grader", "check",
                           str(SOLUTION), "--json", "--assignment", str(assignment)],
                          capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines()
                if line.startswith("import time:")}
    return json.loads(done.stdout), imported


def test_a_check_of_unchanged_course_files_loads_no_yaml_parser(tmp_path):
    assignment = course(tmp_path) / "assignment.yaml"
    first, imported_first = check(assignment)
    second, imported_second = check(assignment)
    assert "yaml" in imported_first and "yaml" not in imported_second
    assert first["score"] == second["score"] == 100
    assert [e["id"] for e in first["exercises"]] == [e["id"] for e in second["exercises"]]


def test_an_edited_course_file_is_read_again(tmp_path):
    assignment = course(tmp_path) / "assignment.yaml"
    before, _ = check(assignment)
    text = assignment.read_text()
    assert "{id: add, points: 5}" in text
    assignment.write_text(text.replace("{id: add, points: 5}", "{id: add, points: 15}"))
    after, _ = check(assignment)
    assert after["max_score"] == before["max_score"] + 10


def test_a_private_course_file_is_kept_as_private(tmp_path):
    secret = tmp_path / "hidden.yaml"
    secret.write_text("id: hidden\npoints: 3\n")
    secret.chmod(0o600)
    assert yamlfiles.load(secret) == {"id": "hidden", "points": 3}
    kept = tmp_path / "__pycache__" / "hidden.yaml.json"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert yamlfiles.load(secret) == {"id": "hidden", "points": 3}


def test_course_files_load_where_no_cache_can_be_written(tmp_path):
    folder = course(tmp_path)
    (folder / "__pycache__").write_text("not a folder")
    report, imported = check(folder / "assignment.yaml")
    again, imported_again = check(folder / "assignment.yaml")
    assert report["score"] == again["score"] == 100
    assert "yaml" in imported and "yaml" in imported_again  # parsed each time, as it must


def test_what_json_cannot_give_back_is_parsed_each_time(tmp_path):
    path = tmp_path / "late.yaml"
    path.write_text("due: 2024-05-01\n1: one\nratio: .nan\n")
    for _ in range(2):
        data = yamlfiles.load(path)
        assert data["due"] == datetime.date(2024, 5, 1) and data[1] == "one"
        assert data["ratio"] != data["ratio"]  # nan
    assert not (tmp_path / "__pycache__" / "late.yaml.json").exists()


def test_a_cache_left_by_something_else_is_ignored(tmp_path):
    path = tmp_path / "mul.yaml"
    path.write_text("id: mul\n")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "mul.yaml.json").write_text('{"key": [0], "data": "forged"}')
    assert yamlfiles.load(path) == {"id": "mul"}
