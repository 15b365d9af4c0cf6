"""Gradescope and PrairieLearn: build the autograder, run as the platform's entrypoint.

Both entrypoints grade exactly like `backprop check`, with the submission's inputs derived
from a secret grading seed and the submission's identity, and write the platform's
results.json from this (parent) process alone, atomically, after every process of the
submission is dead — and always: a crash, hang or early exit of the submission, or a
failure of the grader itself, still yields a valid file. Each file is validated against
the platform's schema (grader/schemas) before it is written.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import json
import re
import os
import tempfile
import time
import zipfile
from pathlib import Path
from collections.abc import Callable

from grader.exercises import PACKAGE_DIR, Assignment, data_dir, load_assignment
from grader.packs import PACK_FILE, Pack, doc
from grader.grading import Report, derive_seed, grade_prepared, new_secret
from grader.reports import advisory_note, notes_and_not_run, student_view, without_unshown
from grader.sandbox import ConfinementError, require_protection
from grader.submissions import SubmissionError, prepare

OUTPUT_CAP = 16 << 10  # characters per test output; results stay far below any limit
PL_MAX_BYTES = 1 << 20
SECRET_FILE = "grading.json"
LOCK_FILE = "requirements.lock"


def _cap(text: str, limit: int = OUTPUT_CAP) -> str:
    return text if len(text) <= limit else text[:limit - 40] + "\n… (output shortened)"


def _validate(results: dict, schema: str) -> None:
    import jsonschema  # only the platform entrypoints need it

    path = PACKAGE_DIR / "schemas" / f"{schema}.schema.json"
    jsonschema.validate(results, json.loads(path.read_text()))


def write_atomically(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".results-")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _exercise_output(result) -> str:
    lines = [f"- {h}" for h in result.hints]
    lines += [f"{'✓' if c.passed else '✗'} {c.title}" + (f": {c.message}" if c.message and
                                                          not c.passed else "")
              for c in result.checks]
    if result.printed:
        lines += ["", "Printed by your functions:", result.printed]
    return _cap("\n".join(lines))


def _grade_platform(submission_dir: Path, identity: str, secret: str | None,
                    private: list[Path], student: str | None = None,
                    assignment_path: Path | None = None, allow_unconfined: bool = False
                    ) -> tuple[Report | None, str | None, Assignment]:
    """(report, problem with the submission itself, assignment). `identity` names the
    submission (its inputs), `student` the person (their worked-example variant);
    `assignment_path` an assignment.yaml other than the bundled one."""
    require_protection(allow_unconfined)  # a grade that counts: only in a whole sandbox
    if not secret:
        raise SecretMissing("no secret grading seed was found (grading.json, or "
                            "BACKPROP_SECRET_SEED): on the public inputs a table of `backprop "
                            f"check` answers would score; staff: see {doc('platforms.md')}")
    assignment = load_assignment(assignment_path)
    seed = derive_seed(secret, identity)
    stem = Path(assignment.student_file).stem
    try:
        prepared = prepare(submission_dir, assignment.functions, stem=stem)
    except SubmissionError as e:
        found = sorted(p.name for p in submission_dir.iterdir()) if submission_dir.is_dir() \
            else []
        if any(Path(name).suffix in (".py", ".ipynb", ".zip") for name in found):
            return None, str(e), assignment  # a file is there: say what is wrong with it
        return None, (f"expected {stem}.py or {stem}.ipynb (or a .zip holding one); "
                      f"found: {', '.join(found) or 'nothing'}"), assignment
    return (grade_prepared(prepared, assignment, seed, hidden=private, identity=student), None,
            assignment)


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _secret(path: Path) -> str | None:
    return _read_json(path).get("secret") or os.environ.get("BACKPROP_SECRET_SEED")


def _total_line(report: Report, shown: Report) -> str:
    """The total a student may see (`shown` is the report's student view): with exercises
    not shown yet, that of the others."""
    if shown is report:
        return f"Total: {report.score:g} / {report.max_score:g}."
    return (f"Total of the exercises shown now: {shown.score:g} / {shown.max_score:g} (the "
            "others appear, with their points, when the course shows them).")


# ---- Gradescope -------------------------------------------------------------------------


def gradescope_results(report: Report | None, problem: str | None,
                       assignment: Assignment, seconds: float) -> dict:
    if report is None:
        return {"score": 0.0, "execution_time": round(seconds), "stdout_visibility": "hidden",
                "output": f"Your submission could not be graded: {problem}", "tests": []}
    tests = []
    visibility = {r.exercise.id: r.exercise.visibility for r in report.exercises}
    for i, r in enumerate(report.exercises, start=1):
        # Gradescope shows each test when its own visibility allows: a test must not
        # carry feedback of an exercise that is shown later (or never).
        r = without_unshown(r, {e for e, v in visibility.items()
                                if v != "visible" and v != r.exercise.visibility})
        tests.append({"name": f"{r.exercise.title} ({r.exercise.id})", "number": str(i),
                      "score": r.score, "max_score": r.exercise.points,
                      "status": "passed" if r.status == "passed" else "failed",
                      "output": _exercise_output(r) if not report.error else report.error,
                      "visibility": r.exercise.visibility})
    summary = list(filter(None, [advisory_note(report.confinement),
                                 _total_line(report, student_view(report))]))
    if report.error:
        summary.append(report.error)
    summary += [f"Note: {n}" for n in notes_and_not_run(report)]
    summary.append("Inputs are drawn for your submission from the course's secret seed, so "
                   "they differ from the public checks of `backprop check`.")
    return {"score": report.score, "execution_time": round(seconds),
            "output": _cap("\n".join(summary)), "output_format": "text",
            "stdout_visibility": "hidden", "tests": tests,
            "extra_data": {"confinement": report.confinement, "pack": report.pack}}


class SecretMissing(RuntimeError):
    """The platform was set up without the course's secret seed: staff must ship one."""


class GradingRefused(Exception):
    """The grader could not protect the run, so it did not grade; `results` (the
    internal-error payload) was written all the same. The entrypoint exits non-zero."""

    def __init__(self, reason: str, results: dict):
        super().__init__(reason)
        self.results = results


def _always(write: Callable[[dict], None], grade: Callable[[], dict], failure: dict,
            schema: str) -> dict:
    """Grade and write; whatever fails, write the failure payload instead. A run the
    grader cannot protect is written as a failure too, then raised as GradingRefused."""
    refused = None
    try:
        results = grade()
        _validate(results, schema)
    except BaseException as e:  # noqa: BLE001 - the platform must get a file, always
        results = {**failure}
        detail = _cap(str(e), 500)
        if isinstance(e, (ConfinementError, SecretMissing)):
            refused, detail = str(e), "the grader could not protect this run, so it did " \
                                      f"not grade it: {detail}"
        results[next(k for k in ("output", "message") if k in failure)] += \
            f" ({type(e).__name__}: {detail})"
    write(results)
    if refused:
        raise GradingRefused(refused, results)
    return results


def run_gradescope(root: Path, allow_unconfined: bool = False) -> dict:
    """The `run_autograder` entrypoint: grade root/submission into root/results."""
    started = time.monotonic()
    target = root / "results" / "results.json"

    def grade() -> dict:
        metadata = _read_json(root / "submission_metadata.json")
        users = [u for u in metadata.get("users") or [] if isinstance(u, dict)]
        student = str(users[0].get("email") or users[0].get("sid") or "") if users else None
        report, problem, assignment = _grade_platform(
            root / "submission", str(metadata.get("id", "")),
            _secret(root / "source" / SECRET_FILE), [root / "source", root / "results"],
            student or None, allow_unconfined=allow_unconfined)
        return gradescope_results(report, problem, assignment, time.monotonic() - started)

    failure = {"score": 0.0, "tests": [], "stdout_visibility": "hidden",
               "output": "The autograder hit an internal error; course staff have been "
                         "notified. This is not your fault."}
    return _always(lambda r: write_atomically(target, r), grade, failure,
                   "gradescope-results")


SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image.
set -euo pipefail
VENV="${BACKPROP_VENV:-/autograder/venv}"
if ! python3 -c "import ensurepip, venv" >/dev/null 2>&1 && command -v apt-get >/dev/null; then
    apt-get update && apt-get install -y python3 python3-venv python3-pip
fi
python3 -m venv --system-site-packages "$VENV"
# The exact versions the zip was built with (a rebuild grades identically), then the
# grader itself into the venv, even when the system already has some version of it.
"$VENV/bin/python" -m pip install --quiet -r "$(dirname "$0")"/LOCK
"$VENV/bin/python" -m pip install --quiet --force-reinstall --no-deps "$(dirname "$0")"/WHEEL
chmod -R o= "$(dirname "$0")"   # the source (and its secret seed) is for root only
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this, as root, for every submission.
VENV="${BACKPROP_VENV:-/autograder/venv}"
exec "$VENV/bin/backprop" gradescope run --root "${BACKPROP_ROOT:-/autograder}"
"""


def build_wheel(dest: Path, exercises: Path, used: list[Path] = (),
                pack: Pack | None = None) -> Path:
    """A wheel of this grader with `exercises` as its bundled assignment, and the other
    exercise files it `used` (built-in ones it picks by id), made from the installed files
    themselves, so that any installation can build an autograder. With a course `pack`,
    the pack itself (its solutions and buggy files left out) is the bundled one."""
    version = _version()
    name = f"backprop_grader-{version}-py3-none-any.whl"
    files: dict[str, bytes] = {}
    for package in ("grader", "reference"):
        base = Path(__import__(package).__file__).resolve().parent
        for path in sorted(base.rglob("*")):
            rel = path.relative_to(base)
            if path.is_file() and "__pycache__" not in rel.parts and rel.parts[0] != "_data":
                files[f"{package}/{rel.as_posix()}"] = path.read_bytes()
    bundled = "grader/_data/exercises"
    if pack is not None:
        for path in sorted(pack.root.rglob("*")):
            rel = path.relative_to(pack.root)
            if path.is_file() and "__pycache__" not in rel.parts and path.parent not in (
                    pack.solutions, pack.buggy) and pack.solutions not in path.parents and \
                    pack.buggy not in path.parents:
                files[f"{bundled}/{rel.as_posix()}"] = path.read_bytes()
    else:
        lecture = data_dir("exercises") / PACK_FILE  # the built-in pack: its ops and template
        for path in [*used, lecture, *sorted(exercises.glob("*.yaml"))]:
            files[f"{bundled}/{path.name}"] = path.read_bytes()
    for path in sorted(data_dir("student_template").iterdir()):
        if path.is_file():
            files[f"grader/_data/student_template/{path.name}"] = path.read_bytes()
    info = f"backprop_grader-{version}.dist-info"
    files[f"{info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: backprop-grader\nVersion: {version}\n"
        "Requires-Python: >=3.10\n" +
        "".join(f"Requires-Dist: {r}\n" for r in runtime_requirements())).encode()
    files[f"{info}/WHEEL"] = (b"Wheel-Version: 1.0\nGenerator: backprop-grader\n"
                              b"Root-Is-Purelib: true\nTag: py3-none-any\n")
    files[f"{info}/entry_points.txt"] = b"[console_scripts]\nbackprop = grader.cli:run\n"
    record = [f"{path},sha256={_b64(hashlib.sha256(data).digest())},{len(data)}"
              for path, data in files.items()] + [f"{info}/RECORD,,"]
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = dest / name
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as z:
        for path, data in files.items():
            z.writestr(path, data)
    return wheel


def _without_extras(requirements: list[str] | None) -> list[str]:
    """The requirements that hold without any extra (`x; extra == "test"` does not)."""
    return [r for r in requirements or []
            if "extra ==" not in r.replace('"', "").replace("'", "")]


def runtime_requirements() -> list[str]:
    """The grader's own dependencies, as pyproject.toml declares them (read from the
    installed package: the one source)."""
    try:
        return _without_extras(importlib.metadata.requires("backprop-grader"))
    except importlib.metadata.PackageNotFoundError:
        raise RuntimeError("the grader is not installed (pip install .): its dependencies "
                           "are unknown, so no autograder can be built") from None


def lock_lines() -> list[str]:
    """`name==version` of every package the grader needs at run time, as installed here
    (its requirements and theirs, those for extras left out): what setup.sh installs."""
    pinned: dict[str, str] = {}
    todo = runtime_requirements()
    while todo:
        name = re.match(r"[A-Za-z0-9._-]+", todo.pop()).group()
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # a dependency for another platform or Python: not needed here
        key = dist.metadata["Name"].lower().replace("_", "-")
        if key not in pinned:
            pinned[key] = dist.version
            todo += _without_extras(dist.requires)
    return [f"{name}=={version}" for name, version in sorted(pinned.items())]


def _b64(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _version() -> str:
    try:
        return importlib.metadata.version("backprop-grader")
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0"


def build_gradescope(output: Path, assignment_path: Path | None = None,
                     secret: str | None = None) -> tuple[Path, str]:
    """Write the autograder zip (setup.sh and run_autograder at its root) and return it
    with the secret grading seed embedded in it."""
    assignment = load_assignment(assignment_path)  # refuse to ship a broken assignment
    secret = secret or new_secret()
    with tempfile.TemporaryDirectory() as tmp:
        pack = assignment.pack if assignment.pack.root != data_dir("exercises").resolve() \
            else None
        wheel = build_wheel(Path(tmp), assignment.source.parent,
                            [ex.source for ex in assignment.exercises], pack)
        with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as z:
            setup = SETUP_SH.replace("WHEEL", wheel.name).replace("LOCK", LOCK_FILE)
            for name, text, mode in (("setup.sh", setup, 0o755),
                                     ("run_autograder", RUN_AUTOGRADER, 0o755),
                                     (LOCK_FILE, "\n".join(lock_lines()) + "\n", 0o644)):
                info = zipfile.ZipInfo(name)
                info.external_attr = (0o100000 | mode) << 16
                z.writestr(info, text)
            z.write(wheel, wheel.name)
            z.writestr(SECRET_FILE, json.dumps({"secret": secret}))
    return output, secret


# ---- PrairieLearn -----------------------------------------------------------------------


def prairielearn_results(report: Report | None, problem: str | None) -> dict:
    if report is None:
        return {"gradable": False, "format_errors": [problem],
                "message": f"Your submission could not be graded: {problem}. This attempt "
                           "was not counted."}
    if report.syntax_errors or report.error and "SyntaxError" in report.error:
        errors = report.syntax_errors or [report.error]
        return {"gradable": False, "format_errors": errors,
                "message": f"{'; '.join(errors)}. Fix it and submit again: this attempt was "
                           "not counted."}
    # PrairieLearn cannot hide a test: exercises not shown yet are not emitted at all.
    shown = student_view(report)
    tests = [{"name": r.exercise.title, "description": r.exercise.id,
              "points": r.score, "max_points": r.exercise.points,
              "message": r.hints[0] if r.hints else "",
              "output": report.error or _exercise_output(r)}
             for r in shown.exercises]
    # The student sees this score: it counts what is shown (the others count from the
    # regrade after the course shows them), or their points could be read off it.
    score = shown.score / shown.max_score if shown.max_score else 0.0
    message = list(filter(None, [advisory_note(report.confinement), _total_line(report, shown)]))
    message += [report.error] if report.error else []
    message += [f"Note: {n}" for n in notes_and_not_run(report)]
    return {"gradable": True, "score": min(max(score, 0.0), 1.0),
            "message": _cap("\n".join(message)), "tests": tests,
            "confinement": report.confinement, "pack": report.pack}


def run_prairielearn(root: Path, assignment: Path | None = None,
                     allow_unconfined: bool = False) -> dict:
    """The external grader entrypoint: grade root/student into root/results, against
    `assignment` (e.g. in serverFilesCourse; default: the bundled one). A broken or missing
    assignment is an internal error, written as such: PrairieLearn counts no attempt."""
    target = root / "results" / "results.json"

    def grade() -> dict:
        data = _read_json(root / "data" / "data.json")
        shipped = sorted((root / "serverFilesCourse").rglob(SECRET_FILE))
        report, problem, _ = _grade_platform(root / "student", str(data.get("variant_seed", "")),
                                             _secret(shipped[0] if shipped else root),
                                             [root / "serverFilesCourse", root / "tests",
                                              root / "results", root / "data"],
                                             assignment_path=assignment,
                                             allow_unconfined=allow_unconfined)
        results = prairielearn_results(report, problem)
        if len(json.dumps(results)) > PL_MAX_BYTES // 2:  # far below the 1 MiB limit
            for test in results.get("tests", []):
                test["output"] = _cap(test["output"], 2000)
        return results

    failure = {"gradable": False, "message": "The grader hit an internal error; this attempt "
                                             "was not counted. Course staff have been notified."}
    return _always(lambda r: write_atomically(target, r), grade, failure,
                   "prairielearn-results")


__all__ = ["build_gradescope", "run_gradescope", "run_prairielearn", "derive_seed"]
