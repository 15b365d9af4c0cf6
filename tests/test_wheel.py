"""A plain wheel install (not an editable one) carries the exercises and template and grades."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import site
import venv
from pathlib import Path

import pytest

from conftest import ROOT


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    base = tmp_path_factory.mktemp("wheel")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                            str(base / "dist"), str(ROOT)], capture_output=True, text=True)
    if build.returncode != 0:
        pytest.fail(f"building the wheel failed:\n{build.stderr[-2000:]}")
    (wheel,) = (base / "dist").glob("backprop_grader-*.whl")
    env_dir = base / "venv"
    # The running pip installs into the venv (`pip --python`, pip >= 22.3): no copy of pip
    # of its own to bootstrap there, which took longer than everything else here.
    outer_pip = _pip_version() >= (22, 3)
    venv.create(env_dir, with_pip=not outer_pip)
    py = env_dir / "bin" / "python"
    # numpy & co. come from the running interpreter's packages (no network); appended after
    # the venv's own site-packages, so the grader itself comes from the wheel only.
    purelib = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()"
                              "['purelib'])"], capture_output=True, text=True, check=True)
    Path(purelib.stdout.strip(), "deps.pth").write_text("\n".join(site.getsitepackages()))
    pip = [sys.executable, "-m", "pip", "--python", str(py)] if outer_pip else \
        [str(py), "-m", "pip"]
    subprocess.run([*pip, "install", "-q", "--no-deps", "--force-reinstall", str(wheel)],
                   check=True, capture_output=True)
    return env_dir


def _pip_version() -> tuple[int, ...]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return tuple(int(part) for part in version("pip").split(".")[:2])
    except (PackageNotFoundError, ValueError):
        return (0,)


def test_wheel_install_grades_from_its_own_files(installed, tmp_path):
    where = subprocess.run([installed / "bin" / "python", "-c",
                            "import grader; print(grader.__file__)"], cwd=tmp_path,
                           capture_output=True, text=True, check=True).stdout
    assert str(installed) in where
    submission = tmp_path / "buggy.py"
    shutil.copyfile(ROOT / "examples" / "buggy_backprop.py", submission)
    result = subprocess.run([installed / "bin" / "backprop", "check", str(submission), "--json"],
                            cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    lost = sorted(e["id"] for e in report["exercises"] if e["score"] < e["max_score"])
    assert lost == ["linear", "mul", "relu"] and report["max_score"] == 100
    validate = subprocess.run([installed / "bin" / "backprop", "validate"], cwd=tmp_path,
                              capture_output=True, text=True)
    assert validate.returncode == 0, validate.stderr
    template = subprocess.run([installed / "bin" / "python", "-c",
                               "from grader.exercises import data_dir; "
                               "print(data_dir('student_template') / 'backprop.py')"],
                              cwd=tmp_path, capture_output=True, text=True, check=True)
    assert "def mul_backward" in open(template.stdout.strip()).read()
    helped = subprocess.run([installed / "bin" / "backprop", "export", "--help"], cwd=tmp_path,
                            capture_output=True, text=True, check=True).stdout
    (named,) = re.findall(r"\S+export\.md", helped)  # the copy installed with the grader
    assert str(installed) in named and "Canvas" in open(named).read()
