"""Grade a whole class: discover the students, grade in parallel, journal, summarise.

Layouts: a folder with one entry per student (a .py, .ipynb, folder or .zip), a Gradescope
"Export Submissions" zip or folder (submission_metadata.yml), or a Canvas "Download
Submissions" zip or folder (names, ids and late flags parsed from the file names).

Every finished submission is appended to OUTDIR/journal.jsonl at once (flushed and
synced), so a batch killed at any point resumes where it stopped: entries whose content,
seed and assignment are unchanged are not graded again (`force` regrades everything).
The outputs are rebuilt from the journal, sorted by student: same inputs and seed, same
gradebook.
"""

from __future__ import annotations

import concurrent.futures as futures
import hashlib
import json
import multiprocessing
import os
import re
import shutil
import stat
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from collections.abc import Callable, Iterable

import yaml

from grader import sandbox
from grader.exercises import Assignment, load_assignment
from grader.grading import Report, derive_seed, grade_prepared, plan_assignment, write_secret
from grader.reports import notes_and_not_run, report_json, student_view
from grader.sandbox import Limits
from grader.submissions import Prepared, SubmissionError, prepare

JOURNAL = "journal.jsonl"
MAX_ARCHIVE_BYTES = 4 << 30
MAX_ARCHIVE_MEMBERS = 50_000
CANVAS_PATTERNS = [
    re.compile(r"^(?:LATE_)?anon_(?P<user_id>[A-Za-z0-9]+)_(?P<attachment_id>\d+)_"
               r"(?P<filename>.+)$"),
    re.compile(r"^(?P<name>.+?)_(?:LATE_)?(?P<user_id>\d+)_(?P<attachment_id>\d+)_"
               r"(?P<filename>.+)$"),
]
CANVAS_COPY_SUFFIX = re.compile(r"-\d+(?=\.[A-Za-z0-9]+$)")  # hw1-1.py was hw1.py


@dataclass
class Entry:
    """One student's submission, wherever it came from."""

    key: str  # stable inside the class: the journal's key
    student: str
    path: Path  # a file or folder that `submissions.prepare` accepts
    ids: dict[str, str] = field(default_factory=dict)
    late: bool | None = None
    note: str | None = None


# ---- discovery ----------------------------------------------------------------------------


def _safe_extract(archive: Path, target: Path) -> Path:
    """Extract a class archive: regular files only, no links, no escaping paths, real byte
    counts (a zip's header sizes may lie)."""
    total = 0
    with zipfile.ZipFile(archive) as z:
        infos = z.infolist()
        if len(infos) > MAX_ARCHIVE_MEMBERS:
            raise SubmissionError(f"{archive.name} holds more than {MAX_ARCHIVE_MEMBERS} files")
        for info in infos:
            name = PurePosixPath(info.filename)
            if info.is_dir() or stat.S_ISLNK(info.external_attr >> 16):
                continue
            if name.is_absolute() or ".." in name.parts or "__MACOSX" in name.parts:
                continue
            dest = target.joinpath(*name.parts)
            dest.parent.mkdir(parents=True, exist_ok=True)
            with z.open(info) as src, open(dest, "wb") as out:
                while chunk := src.read(1 << 20):
                    total += len(chunk)
                    if total > MAX_ARCHIVE_BYTES:
                        raise SubmissionError(f"{archive.name} unpacks to more than "
                                              f"{MAX_ARCHIVE_BYTES >> 30} GiB")
                    out.write(chunk)
    return target


def _visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if not p.name.startswith((".", "__MACOSX")) and not p.is_symlink())


def _gradescope_root(folder: Path) -> Path | None:
    for candidate in [folder, *[p for p in _visible(folder) if p.is_dir()]]:
        if (candidate / "submission_metadata.yml").is_file():
            return candidate
    return None


def _gradescope(root: Path) -> list[Entry]:
    metadata = yaml.safe_load((root / "submission_metadata.yml").read_text()) or {}
    entries = []
    for key, info in sorted(metadata.items()):
        info = info if isinstance(info, dict) else {}
        people = [p for p in info.get(":submitters") or [] if isinstance(p, dict)]
        names = [str(p.get(":name") or "") for p in people if p.get(":name")]
        ids = {"gradescope_id": str(key).removeprefix("submission_")}
        for field_name in ("sid", "email"):
            values = [str(p.get(f":{field_name}")) for p in people if p.get(f":{field_name}")]
            if values:
                ids[field_name] = ";".join(values)
        folder = root / str(key)
        note = None if folder.exists() else "listed in submission_metadata.yml but no files"
        entries.append(Entry(str(key), " & ".join(names) or str(key), folder, ids, note=note))
    known = {e.key for e in entries}
    for path in _visible(root):
        if path.name not in known and path.name != "submission_metadata.yml":
            entries.append(Entry(path.name, path.stem, path, note="not in "
                                 "submission_metadata.yml: graded under its own name"))
    return entries


def _canvas_match(name: str) -> dict | None:
    for pattern in CANVAS_PATTERNS:
        m = pattern.match(name)
        if m:
            found = m.groupdict()
            found["late"] = "_LATE_" in name or name.startswith("LATE_")
            return found
    return None


def _canvas(folder: Path, staging: Path) -> list[Entry]:
    """Group a Canvas download's files by student into one folder each."""
    groups: dict[str, list[tuple[Path, dict]]] = {}
    entries = []
    for path in _visible(folder):
        found = _canvas_match(path.name) if path.is_file() else None
        if found is None:
            entries.append(Entry(path.name, path.stem, path, note="file name fits no Canvas "
                                 "pattern: graded under its own name"))
            continue
        groups.setdefault(found["user_id"], []).append((path, found))
    for user_id, files in sorted(groups.items()):
        student_dir = staging / f"canvas_{user_id}"
        student_dir.mkdir(parents=True)
        for path, found in files:
            original = CANVAS_COPY_SUFFIX.sub("", found["filename"])
            shutil.copyfile(path, student_dir / original)
        first = files[0][1]
        entries.append(Entry(f"canvas_{user_id}", first.get("name") or f"anon_{user_id}",
                             student_dir, {"canvas_id": user_id},
                             late=any(f["late"] for _, f in files)))
    return entries


def _plain(folder: Path) -> list[Entry]:
    return [Entry(p.name, p.stem if p.is_file() else p.name, p) for p in _visible(folder)]


def discover(path: Path, staging: Path) -> tuple[str, list[Entry]]:
    """(layout name, entries) for a class folder or archive."""
    path = Path(path)
    if not path.exists():
        raise SubmissionError(f"{path} does not exist")
    if path.is_file():
        if path.suffix != ".zip":
            raise SubmissionError(f"{path} is neither a folder nor a .zip of submissions")
        try:
            path = _safe_extract(path, staging / "class")
        except zipfile.BadZipFile:
            raise SubmissionError(f"{path} is not a valid zip archive") from None
    root = _gradescope_root(path)
    if root is not None:
        return "gradescope", _gradescope(root)
    files = [p for p in _visible(path) if p.is_file()]
    if files and sum(_canvas_match(p.name) is not None for p in files) >= len(files) / 2:
        return "canvas", _canvas(path, staging / "canvas")
    return "folder", _plain(path)


def content_hash(path: Path) -> str:
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        digest.update(str(f.relative_to(path) if f != path else f.name).encode() + b"\0")
        digest.update(hashlib.sha256(f.read_bytes()).digest())
    return digest.hexdigest()


# ---- grading in workers -----------------------------------------------------------------

_worker: dict = {}


def _init_worker(assignment_path: str | None, seeding: int | str, run_all: bool) -> None:
    """Each worker imports numpy and the grader once (and, with one seed for the whole
    class, plans once); its first run claims a sandbox uid of its own (`sandbox.uids`)."""
    sandbox.use_zygote()  # falls back to fresh interpreters when it cannot start
    assignment = load_assignment(Path(assignment_path) if assignment_path else None)
    _worker.update(assignment=assignment, seeding=seeding, run_all=run_all,
                   limits=Limits.from_spec(assignment.limits),
                   planned=plan_assignment(assignment, seeding)
                   if isinstance(seeding, int) else None)


def _grade_entry(entry: Entry) -> dict:
    """A journal record for one entry; never raises for a bad submission."""
    assignment: Assignment = _worker["assignment"]
    wanted = assignment.functions
    try:
        prepared = prepare(entry.path, wanted, _worker["run_all"])
    except SubmissionError as e:
        prepared = Prepared(entry.path.name, error=str(e))
    identity = entry.ids.get("email") or entry.ids.get("sid") or entry.student
    seeding, planned = _worker["seeding"], _worker["planned"]
    if isinstance(seeding, int):  # --seed N: the same inputs for everyone, planned once
        seed, planned = seeding, plan_assignment(assignment, seeding, identity, planned)
    else:  # the class's secret, mixed with who the student is
        seed = derive_seed(seeding, identity)
    report = grade_prepared(prepared, assignment, seed, _worker["limits"], planned,
                            identity=identity)
    return _record(entry, report)


def _record(entry: Entry, report: Report) -> dict:
    incidents = list(report.incidents)
    printed = "\n".join([report.stdout, *(r.printed for r in report.exercises)])
    if re.search(r'"score"\s*:|\bPASSED\b|all tests passed', printed, re.I):
        incidents.append("tamper")  # printed something that looks like a grade
    view = student_view(report)
    shown = {} if view is report else {"student_report": report_json(view)}
    return {"key": entry.key, "student": entry.student, "ids": entry.ids, "late": entry.late,
            "entry_note": entry.note, "report": report_json(report),
            "notes": notes_and_not_run(report),
            **shown,
            "incidents": sorted(set(incidents)),
            "hints": {r.exercise.id: r.hints for r in report.exercises}}


# ---- the journal and the run --------------------------------------------------------------


def read_journal(outdir: Path) -> dict[str, dict]:
    """Finished records by key; a line cut short by a crash is ignored."""
    records = {}
    path = outdir / JOURNAL
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
                records[record["key"]] = record
            except (ValueError, KeyError, TypeError):
                continue
    return records


class Journal:
    def __init__(self, outdir: Path):
        outdir.mkdir(parents=True, exist_ok=True)
        path = outdir / JOURNAL
        if path.exists() and path.stat().st_size and not path.read_bytes().endswith(b"\n"):
            with open(path, "ab") as f:
                f.write(b"\n")  # end the line a crash cut short
        self.file = open(path, "a", encoding="utf-8")

    def append(self, record: dict) -> None:
        self.file.write(json.dumps(record, sort_keys=True) + "\n")
        self.file.flush()
        os.fsync(self.file.fileno())

    def close(self) -> None:
        self.file.close()


class Progress:
    """A one-line progress bar with count and ETA, on a terminal only."""

    def __init__(self, total: int, stream=sys.stderr):
        self.total, self.done, self.stream = total, 0, stream
        self.start = time.monotonic()
        self.active = total > 0 and hasattr(stream, "isatty") and stream.isatty()

    def step(self) -> None:
        self.done += 1
        if not self.active:
            return
        elapsed = time.monotonic() - self.start
        eta = elapsed / self.done * (self.total - self.done)
        width = 30
        filled = int(width * self.done / self.total)
        self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total}"
                          f"  {elapsed:5.1f} s  ETA {eta:5.1f} s ")
        self.stream.flush()
        if self.done == self.total:
            self.stream.write("\n")


@dataclass
class BatchResult:
    layout: str
    graded: int
    reused: int
    records: list[dict]


SECRET_FILE = ".grading-secret"


def class_secret(outdir: Path) -> str:
    """The batch's secret seed: drawn on the first run and kept with its output, readable
    by its owner only, so that a rerun or a resume grades the very same inputs."""
    path = outdir / SECRET_FILE
    try:
        return str(json.loads(path.read_text())["secret"])
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, TypeError):
        raise SubmissionError(f"{path} is unreadable: restore it, or delete it to draw a new "
                              "secret (every student then gets new inputs)") from None
    return write_secret(path, replace=False)


def run_batch(path: Path, outdir: Path, assignment_path: Path | None = None,
              seed: int | None = None, jobs: int | None = None, force: bool = False,
              run_all: bool = False,
              on_record: Callable[[dict], None] | None = None) -> BatchResult:
    """Grade every submission under `path` into `outdir`; resumable. Without `seed`, the
    inputs come from a secret kept in `outdir` (`class_secret`) and each student's
    identity; with it, everyone gets the inputs of that seed (reproducible runs)."""
    from grader.summary import write_outputs

    assignment = load_assignment(assignment_path)
    sandbox.require_protection()  # grades that count: never the submission as root
    seeding = seed if seed is not None else class_secret(outdir)
    staging = Path(tempfile.mkdtemp(prefix="backprop-class-"))
    try:
        layout, entries = discover(path, staging)
        fingerprint = _fingerprint(assignment, seeding, run_all)
        done = {} if force else read_journal(outdir)
        if force and (outdir / JOURNAL).exists():
            (outdir / JOURNAL).unlink()
        todo, reused = [], []
        for entry in entries:
            digest = content_hash(entry.path) if entry.path.exists() else ""
            old = done.get(entry.key)
            if old and old.get("hash") == digest and old.get("fingerprint") == fingerprint:
                reused.append(old)
            else:
                todo.append((entry, digest))
        journal = Journal(outdir)
        progress = Progress(len(todo))
        fresh = []
        hashes = {entry.key: digest for entry, digest in todo}
        try:
            for entry, record in _grade_all(todo, assignment_path, seeding, run_all, jobs):
                record.update(hash=hashes[entry.key], fingerprint=fingerprint)
                journal.append(record)
                fresh.append(record)
                progress.step()
                if on_record:
                    on_record(record)
        finally:
            journal.close()
        records = sorted(reused + fresh, key=lambda r: (r["student"].lower(), r["key"]))
        write_outputs(outdir, records, assignment, layout)
        return BatchResult(layout, len(fresh), len(reused), records)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _fingerprint(assignment: Assignment, seeding: int | str, run_all: bool) -> str:
    digest = hashlib.sha256(f"{seeding}|{run_all}".encode())
    for path in sorted(assignment.source.parent.glob("*.yaml")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _grade_all(todo: list[tuple[Entry, str]], assignment_path: Path | None,
               seeding: int | str, run_all: bool,
               jobs: int | None) -> Iterable[tuple[Entry, dict]]:
    if not todo:
        return
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(todo)))
    methods = multiprocessing.get_all_start_methods()  # Windows has no fork server
    ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    args = (str(assignment_path) if assignment_path else None, seeding, run_all)
    with futures.ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init_worker,
                                     initargs=args) as pool:
        pending = {pool.submit(_grade_entry, entry): entry for entry, _ in todo}
        for future in futures.as_completed(pending):
            entry = pending[future]
            try:
                record = future.result()
            except sandbox.ConfinementError:
                raise  # never grade the rest of the class unprotected
            except Exception as e:  # the grader itself failed on this one: say so, go on
                record = _failure(entry, e)
            yield entry, record


def _failure(entry: Entry, error: Exception) -> dict:
    return {"key": entry.key, "student": entry.student, "ids": entry.ids, "late": entry.late,
            "entry_note": entry.note, "report": None, "notes": [],
            "incidents": ["grader_error"], "hints": {},
            "grader_error": f"{type(error).__name__}: {error}"}


__all__ = ["Entry", "discover", "run_batch", "read_journal"]
