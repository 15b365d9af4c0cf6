"""Grade a whole class: discover the students (`discovery`), grade them in parallel,
journal, summarise (`summary`).

Every finished submission is appended to OUTDIR/journal.jsonl at once (flushed and
synced), so a batch killed at any point resumes where it stopped: entries whose content,
seed and assignment are unchanged are not graded again (`force` regrades everything,
`only` the students named). A grader failure is never journaled: that student is graded
again by the next run. The outputs are rebuilt from the journal, sorted by student: same
inputs and seed, same gradebook. What each submission printed, and its timing, go to
OUTDIR/logs/ for staff, and OUTDIR/grading.log records every run.
"""

from __future__ import annotations

import concurrent.futures as futures
import contextlib
import datetime as dt
import gc
import hashlib
import itertools
import json
import multiprocessing
import os
import re
import signal
import sys
import threading
import time
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path
from collections.abc import Callable, Iterable

from grader import sandbox, teardown
from grader.discovery import Entry, discover
from grader.exercises import Assignment, load_assignment
from grader.gradebook import (GradebookError, LatePolicy, Override, corrections_for,
                               read_overrides, who)
from grader.grading import Report, derive_seed, grade_prepared, plan_assignment, write_secret
from grader.reports import notes_and_not_run, report_json, shown_now, student_view
from grader.sandbox import Limits
from grader.sandbox.child import processes
from grader.submissions import Prepared, SubmissionError, prepare

JOURNAL = "journal.jsonl"


# ---- grading in workers -----------------------------------------------------------------

_worker: dict = {}


def _init_worker(assignment_path: str | None, seeding: int | str, run_all: bool,
                 batch: int) -> None:
    """Each worker imports numpy and the grader once (and, with one seed for the whole
    class, plans once); its first run claims a sandbox uid of its own (`sandbox.uids`).
    It dies with the batch, and leaves Ctrl-C and SIGTERM to it."""
    processes.die_with_parent(batch)  # `batch`: its pid, in case it died already
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sandbox.use_zygote()  # falls back to fresh interpreters when it cannot start
    assignment = load_assignment(Path(assignment_path) if assignment_path else None)
    _worker.update(assignment=assignment, seeding=seeding, run_all=run_all,
                   limits=Limits.from_spec(assignment.limits),
                   planned=plan_assignment(assignment, seeding)
                   if isinstance(seeding, int) else None)
    # What lives for the whole run (modules, the assignment) is never garbage: moved out
    # of the collector's sight, the collections each student's grading triggers are
    # cheaper.
    gc.freeze()


def identity_of(entry: Entry) -> str:
    """Who the student is, for their own inputs: stable across exports."""
    return entry.ids.get("email") or entry.ids.get("sid") or entry.student


def _grade_entry(entry: Entry) -> dict:
    """A journal record for one entry; never raises for a bad submission."""
    assignment: Assignment = _worker["assignment"]
    wanted = assignment.functions
    if entry.path is None:
        prepared = Prepared(entry.key, error=f"no files were handed in ({entry.note})")
    else:
        try:
            prepared = prepare(entry.path, wanted, _worker["run_all"],
                               Path(assignment.student_file).stem)
        except SubmissionError as e:
            prepared = Prepared(entry.path.name, error=str(e))
    identity = identity_of(entry)
    seeding, planned = _worker["seeding"], _worker["planned"]
    if isinstance(seeding, int):  # --seed N: the same inputs for everyone, planned once
        seed, planned = seeding, plan_assignment(assignment, seeding, identity, planned)
    else:  # the class's secret, mixed with who the student is
        seed = derive_seed(seeding, identity)
        # Planned before the child is started, not while it runs (as `check` does): each
        # core already has a worker, and the overlap would only cost the batch its calls'
        # hand-offs, one frame an exercise.
        planned = plan_assignment(assignment, seed, identity)
    report = grade_prepared(prepared, assignment, seed, _worker["limits"], planned,
                            identity=identity)
    return _record(entry, report)


def _entry_fields(entry: Entry) -> dict:
    return {"key": entry.key, "student": entry.student, "ids": entry.ids,
            "members": entry.members, "late": entry.late, "submitted": entry.submitted,
            "entry_note": entry.note}


def _record(entry: Entry, report: Report) -> dict:
    incidents = list(report.incidents)
    printed = "\n".join([report.stdout, *(r.printed for r in report.exercises)])
    if re.search(r'"score"\s*:|\bPASSED\b|all tests passed', printed, re.I):
        incidents.append("tamper")  # printed something that looks like a grade
    return {**_entry_fields(entry), "report": report_json(report),
            "notes": notes_and_not_run(report), "views": student_views(report),
            "incidents": sorted(set(incidents)),
            "hints": {r.exercise.id: r.hints for r in report.exercises},
            "log": {"stdout": report.stdout, "stderr": report.stderr,
                    "dropped_output_bytes": report.dropped_output_bytes,
                    "elapsed_s": report.elapsed_s,
                    "printed": {r.exercise.id: r.printed for r in report.exercises
                                if r.printed}}}


RELEASABLE = ("after_due_date", "after_published")  # `grade --release` shows these
RELEASED = ".released"  # what `--release` has shown so far, in the output folder


def released(outdir: Path, release: Iterable[str]) -> tuple[str, ...]:
    """What feedback shows from now on: what earlier runs released, and `release`. A
    release is never taken back by a later run (students have read it already)."""
    path = outdir / RELEASED
    try:
        before = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        before = []
    shown = tuple(v for v in RELEASABLE if v in release or v in before)
    if list(shown) != before:
        path.write_text(json.dumps(list(shown)), encoding="utf-8")
    return shown


def release_key(visibilities: set[str], release: Iterable[str]) -> str:
    """The name of a student view: the released visibilities among `visibilities`."""
    return ",".join(v for v in RELEASABLE if v in visibilities and v in release)


def student_views(report: Report) -> dict[str, dict]:
    """What the student may see, for every way of releasing the exercises not shown yet
    (`release_key`: "" for none), where something stays unshown: so that `--release`
    rewrites the feedback without grading again."""
    present = {r.exercise.visibility for r in report.exercises}
    delayed = [v for v in RELEASABLE if v in present]
    views = {}
    for n in range(len(delayed) + 1):
        for release in itertools.combinations(delayed, n):
            shown = replace(report, exercises=[
                replace(r, exercise=replace(r.exercise, visibility="visible"))
                if r.exercise.visibility in release else r for r in report.exercises])
            if not all(shown_now(r.exercise) for r in shown.exercises):
                views[release_key(present, release)] = report_json(student_view(shown))
    return views


def _failure(entry: Entry, why: str) -> dict:
    """The grader (not the submission) failed: shown to staff, never journaled."""
    return {**_entry_fields(entry), "report": None, "notes": [],
            "incidents": ["grader_error"], "hints": {}, "grader_error": why}


# ---- the journal, the logs and the run ----------------------------------------------------


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


def write_log(outdir: Path, record: dict) -> None:
    """OUTDIR/logs/<student>.log: what the submission printed, and how long it took."""
    log = record.pop("log", None)
    if log is None:
        return
    folder = outdir / "logs"
    folder.mkdir(exist_ok=True)
    lines = [f"student: {record['student']} ({record['key']})",
             f"graded in {log['elapsed_s']:.2f} s; incidents: "
             f"{', '.join(record['incidents']) or 'none'}", "", "---- stdout", log["stdout"],
             "---- stderr", log["stderr"]]
    if log["dropped_output_bytes"]:
        lines.append(f"---- {log['dropped_output_bytes']} more bytes were printed and dropped")
    for exercise, text in log["printed"].items():
        lines += [f"---- printed during {exercise}", text]
    (folder / f"{file_stem(record['key'])}.log").write_text("\n".join(lines) + "\n",
                                                            encoding="utf-8")


class RunLog:
    """OUTDIR/grading.log: one line per event of every run, appended."""

    def __init__(self, outdir: Path):
        outdir.mkdir(parents=True, exist_ok=True)
        self.file = open(outdir / "grading.log", "a", encoding="utf-8")

    def __call__(self, message: str) -> None:
        stamp = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        self.file.write(f"{stamp} {message}\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()


class Progress:
    """Progress on stderr: a bar with count and ETA on a terminal; elsewhere (CI, a log,
    nohup) a plain line every `every` students and at the end."""

    def __init__(self, total: int, stream=None, every: int | None = None):
        self.total, self.done, self.stream = total, 0, stream or sys.stderr
        self.start = time.monotonic()
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.every = every or max(1, min(25, total // 10))

    def step(self) -> None:
        self.done += 1
        if not self.total:
            return
        elapsed = time.monotonic() - self.start
        eta = elapsed / self.done * (self.total - self.done)
        if self.tty:
            width = 30
            filled = int(width * self.done / self.total)
            self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] "
                              f"{self.done}/{self.total}  {elapsed:5.1f} s  ETA {eta:5.1f} s ")
            if self.done == self.total:
                self.stream.write("\n")
        elif self.done % self.every == 0 or self.done == self.total:
            self.stream.write(f"graded {self.done}/{self.total} · {elapsed:.0f} s elapsed · "
                              f"about {eta:.0f} s left\n")
        self.stream.flush()


@dataclass
class BatchResult:
    layout: str
    graded: int
    reused: int
    records: list[dict]
    failed: list[dict] = field(default_factory=list)  # grader failures: not journaled
    strays: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # corrections that match nobody
    grades: dict = field(default_factory=dict)  # key -> gradebook.Grade
    overview: list[str] = field(default_factory=list)  # the class in a few lines
    retried: list[str] = field(default_factory=list)  # graded again after a worker died
    released: tuple[str, ...] = ()  # the visibilities feedback shows (`released`)


class Interrupted(Exception):
    """Ctrl-C or SIGTERM: the finished submissions are in the journal; the same command
    resumes. `signum` is the signal that stopped the batch."""

    def __init__(self, done: int, total: int, outdir: Path, signum: int = signal.SIGINT):
        super().__init__(f"interrupted after grading {done} of {total} submission(s); they "
                         f"are kept in {outdir / JOURNAL}: run the same command again to "
                         f"grade the other {total - done}")
        self.signum = signum


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be, so that both stop the batch the same way."""


@contextlib.contextmanager
def sigterm_like_ctrl_c():
    """SIGTERM (`kill`, a supervisor, a closing session) stops the batch as Ctrl-C does:
    workers killed, the journal kept, no traceback (left alone, it kills the batch with
    its pool half torn down, and multiprocessing complains of leaked semaphores)."""
    def stop(signum, frame):
        raise Terminated

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


LOCK_FILE = ".grading.lock"


class Busy(Exception):
    """Another `grade` holds the output folder."""


@contextlib.contextmanager
def output_lock(outdir: Path):
    """One `grade` at a time per output folder: two would grade every student twice and
    interleave the journal. The lock dies with its process, however it ends."""
    with open(outdir / LOCK_FILE, "a+", encoding="utf-8") as f:
        try:
            if os.name == "nt":  # a byte far past the holder's line, which stays readable
                import msvcrt

                f.seek(1 << 20)
                msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            raise Busy(f"{outdir} is being graded into by {holder}: wait for it to finish "
                       "(a rerun then resumes), or grade into another folder (-o)") from None
        f.seek(0)
        f.truncate()
        f.write(f"`backprop grade` (pid {os.getpid()}, started "
                f"{dt.datetime.now().astimezone().isoformat(timespec='seconds')})")
        f.flush()
        yield


OUTPUTS = ("gradebook.csv", "results.json", "summary.md", "summary.png", JOURNAL,
           "grading.log", "overrides.csv", LOCK_FILE, RELEASED, "feedback", "feedback-staff",
           "logs")


def protect(outdir: Path, group: bool) -> None:
    """Grades, feedback and logs are the TA's: folders 0700 and files 0600, or with
    `group` 0750 and 0640 (the secret seed stays 0600). Only what the grader writes is
    touched, never other files of the folder."""
    folder_mode, file_mode = (0o750, 0o640) if group else (0o700, 0o600)
    _chmod_if_ours(outdir, folder_mode)
    for path in (outdir / name for name in OUTPUTS):
        if path.is_dir() and not path.is_symlink():
            _chmod_if_ours(path, folder_mode)
            for inner in path.iterdir():
                if inner.is_file() and not inner.is_symlink():
                    _chmod_if_ours(inner, file_mode)
        elif path.is_file() and not path.is_symlink():
            _chmod_if_ours(path, file_mode)


def _chmod_if_ours(path: Path, mode: int) -> None:
    """Only a path's owner may change its mode: an output folder another account made
    for the TA (writable, not owned) keeps its own, and what we write inside is ours."""
    try:
        path.chmod(mode)
    except PermissionError:
        pass


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
              run_all: bool = False, only: tuple[str, ...] = (),
              on_record: Callable[[dict], None] | None = None,
              overrides: Path | None = None, allow_unconfined: bool = False,
              release: tuple[str, ...] = (), group: bool = False) -> BatchResult:
    """Grade every submission under `path` into `outdir`; resumable. Without `seed`, the
    inputs come from a secret kept in `outdir` (`class_secret`) and each student's
    identity; with it, everyone gets the inputs of that seed (reproducible runs). `only`
    regrades the students named (by name, file, sid or email) and keeps the rest;
    `overrides` is the staff's corrections file (default: OUTDIR/overrides.csv);
    `allow_unconfined` grades where the sandbox is incomplete, every result advisory;
    `release` shows the exercises of those visibilities in the feedback; `group` lets the
    TA's group read the outputs (default: the TA only). Busy when another `grade` holds
    `outdir`."""
    assignment = load_assignment(assignment_path)
    # A broken late policy or overrides file stops us before any grading.
    policy = LatePolicy.of(assignment)
    if overrides is not None and not overrides.is_file():  # named, so it must be there
        raise GradebookError(f"{overrides}: no such file (the overrides named with "
                             "--overrides)")
    changes = read_overrides(overrides or outdir / "overrides.csv", assignment)
    sandbox.require_protection(allow_unconfined)  # grades that count: a whole sandbox
    outdir.mkdir(parents=True, exist_ok=True)
    with output_lock(outdir):
        _chmod_if_ours(outdir, 0o750 if group else 0o700)  # before a grade is written
        try:
            return _run(path, outdir, assignment, assignment_path, seed, jobs, force,
                        run_all, only, on_record, policy, changes, release)
        finally:
            protect(outdir, group)


def _run(path: Path, outdir: Path, assignment: Assignment, assignment_path: Path | None,
         seed: int | None, jobs: int | None, force: bool, run_all: bool,
         only: tuple[str, ...], on_record: Callable[[dict], None] | None,
         policy: LatePolicy | None, changes: list[Override],
         release: tuple[str, ...]) -> BatchResult:
    """`run_batch` once the output folder is ours."""
    from grader.summary import overview, write_outputs

    seeding = seed if seed is not None else class_secret(outdir)
    log = RunLog(outdir)
    try:
        with teardown.Scratch() as scratch:
            found = discover(path, scratch)
            # Extensions, overrides and --only must each name one student: checked
            # before any grading.
            people = [_entry_fields(e) for e in found.entries]
            corrections = corrections_for(people, policy, changes)
            chosen = _chosen(people, only)
            how = f"seed {seed}" if seed is not None else "the class's secret seed"
            log(f"start: {path} ({found.layout} layout, {len(found.entries)} entries, "
                f"{len(found.strays)} strays), {how}{', --force' if force else ''}"
                f"{', --only ' + ', '.join(only) if only else ''}")
            todo, reused = _plan_work(found.entries, outdir, assignment, seeding, run_all,
                                      force, chosen)
            fresh, failed = _grade_and_journal(todo, outdir, assignment_path, seeding,
                                               run_all, jobs, log, on_record)
    except Interrupted as stop:
        log(f"interrupted: {stop}")
        raise
    finally:
        log.close()
    records = sorted(reused + fresh + failed, key=lambda r: (r["student"].lower(), r["key"]))
    release = released(outdir, release)
    grades = write_outputs(outdir, records, assignment, found.layout, found.strays, policy,
                           corrections, release)
    return BatchResult(found.layout, len(fresh), len(reused), records, failed, found.strays,
                       corrections.unmatched, grades,
                       overview(records, grades, assignment, found.layout, policy, most=10),
                       [r["student"] for r in fresh if "worker_died" in r["incidents"]],
                       release)


def _chosen(people: list[dict], only: tuple[str, ...]) -> set[str] | None:
    """The keys of the students `--only` names (None: everyone); each must name one."""
    if not only:
        return None
    found = {w: who(w, people, "--only") for w in only}
    unknown = [w for w, record in found.items() if record is None]
    if unknown:
        raise GradebookError(f"--only: no student matches {', '.join(map(repr, unknown))}: "
                             "give a name, file name, sid or email as the gradebook shows it")
    return {record["key"] for record in found.values()}


def _plan_work(entries: list[Entry], outdir: Path, assignment: Assignment, seeding: int | str,
               run_all: bool, force: bool,
               only: set[str] | None) -> tuple[list[tuple[Entry, dict]], list[dict]]:
    """(entries to grade, each with the hash and fingerprint its record will carry;
    journal records to keep, with what the class says of each student now: its time,
    late flag and names). `only`: the keys to regrade, keeping everyone else's grade."""
    fingerprint = _fingerprint(assignment, seeding, run_all)
    force = force and only is None  # --only keeps everyone else's grade, whatever else
    done = {} if force else read_journal(outdir)
    if force and (outdir / JOURNAL).exists():
        (outdir / JOURNAL).unlink()
    todo, reused = [], []
    for entry in entries:
        digest = content_hash(entry.path) if entry.path and entry.path.exists() else ""
        old = done.get(entry.key)
        old = old and {**old, **_entry_fields(entry)}
        if only is not None:
            if entry.key in only:
                todo.append((entry, digest))
            elif old:
                reused.append(old)
        elif old and old.get("hash") == digest and old.get("fingerprint") == fingerprint:
            reused.append(old)
        else:
            todo.append((entry, digest))
    return [(e, {"hash": d, "fingerprint": fingerprint}) for e, d in todo], reused


def _grade_and_journal(todo: list[tuple[Entry, dict]], outdir: Path,
                       assignment_path: Path | None, seeding: int | str, run_all: bool,
                       jobs: int | None, log: RunLog, on_record: Callable[[dict], None] | None
                       ) -> tuple[list[dict], list[dict]]:
    """Grade `todo`, journaling each record as it comes: (fresh records, grader failures,
    which are reported and never journaled)."""
    journal = Journal(outdir)
    progress = Progress(len(todo))
    stamps = {entry.key: stamp for entry, stamp in todo}
    fresh, failed = [], []
    try:
        for entry, record in _grade_all([e for e, _ in todo], assignment_path, seeding,
                                        run_all, jobs, log):
            if record.get("grader_error"):
                failed.append(record)
                log(f"{entry.student} ({entry.key}): NOT GRADED, {record['grader_error']}")
            else:
                write_log(outdir, record)
                record.update(stamps[entry.key])
                with _signals_deferred():
                    journal.append(record)
                    fresh.append(record)
                report = record["report"]
                log(f"{entry.student} ({entry.key}): {report['score']:g}/{report['max_score']:g}"
                    f" in {report['elapsed_s']:.2f} s"
                    + (f", incidents: {', '.join(record['incidents'])}"
                       if record["incidents"] else ""))
            progress.step()
            if on_record:
                on_record(record)
    except KeyboardInterrupt as stop:
        raise Interrupted(len(fresh), len(todo), outdir, signal.SIGTERM
                          if isinstance(stop, Terminated) else signal.SIGINT) from None
    finally:
        journal.close()
    return fresh, failed


@contextlib.contextmanager
def _signals_deferred():
    """Ctrl-C and SIGTERM wait until a record is both journaled and counted: stopped in
    between (in the journal's fsync, on a busy machine), the batch said it had graded one
    fewer than its journal holds. A signal that came meanwhile is raised again after."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only
        return
    came: list[int] = []
    held = {s: signal.signal(s, lambda signum, _: came.append(signum))
            for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in held.items():
            signal.signal(signum, handler)
        for signum in came[:1]:
            signal.raise_signal(signum)


def content_hash(path: Path) -> str:
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(  # a link is not graded: not followed
        p for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    for f in files:
        digest.update(os.fsencode(f.relative_to(path) if f != path else f.name) + b"\0")
        try:
            digest.update(hashlib.sha256(f.read_bytes()).digest())
        except OSError as e:  # that student's report says why; the batch goes on
            digest.update(f"unreadable {e.errno}".encode())
    return digest.hexdigest()


def _fingerprint(assignment: Assignment, seeding: int | str, run_all: bool) -> str:
    """What a grade depends on besides the submission: the seed, the exercises as the
    assignment sets them, its limits and policy. Not the late policy, the title or the
    staff's corrections: changing those recomputes totals without grading again."""
    graded = {"seeding": seeding, "run_all": run_all, "limits": assignment.limits,
              "policy": assignment.policy,
              "exercises": [[ex.id, ex.points, ex.visibility, ex.reveal, ex.tolerance,
                             ex.checks, ex.spec] for ex in assignment.exercises]}
    text = json.dumps(graded, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


MAX_ATTEMPTS = 3  # a worker that dies is replaced; its students are graded again


def _grade_all(pending: list[Entry], assignment_path: Path | None, seeding: int | str,
               run_all: bool, jobs: int | None, log: RunLog) -> Iterable[tuple[Entry, dict]]:
    """(entry, record) as each finishes. A dead worker breaks the pool: the students it
    left unfinished go to a fresh pool, up to MAX_ATTEMPTS times."""
    attempts = {entry.key: 0 for entry in pending}
    args = (str(assignment_path) if assignment_path else None, seeding, run_all, os.getpid())
    while pending:
        broken = []
        count = max(1, min(jobs or os.cpu_count() or 1, len(pending)))
        # Spawned workers are the batch's own children: they die with it (pdeathsig).
        pool = futures.ProcessPoolExecutor(count, multiprocessing.get_context("spawn"),
                                           initializer=_init_worker, initargs=args)
        try:
            running = {pool.submit(_grade_entry, entry): entry for entry in pending}
            for future in futures.as_completed(running):
                entry = running[future]
                try:
                    record = future.result()
                except sandbox.ConfinementError:
                    raise  # never grade the rest of the class unprotected
                except BrokenProcessPool:
                    broken.append(entry)
                    continue
                except Exception as e:  # the grader failed on this one: say so, go on
                    record = _failure(entry, f"{type(e).__name__}: {e}")
                if attempts[entry.key]:  # for the summary and the terminal, not only the log
                    record["incidents"] = sorted({*record["incidents"], "worker_died"})
                yield entry, record
        except BaseException:
            for worker in multiprocessing.active_children():
                worker.kill()  # Ctrl-C or a refusal: stop now, not after the running ones
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        pending = []
        for entry in broken:
            attempts[entry.key] += 1
            if attempts[entry.key] < MAX_ATTEMPTS:
                pending.append(entry)
            else:
                yield entry, _failure(entry, f"its grading worker died {MAX_ATTEMPTS} times "
                                             "(out of memory?); run the same command again")
        if pending:
            log(f"a grading worker died: {len(pending)} submission(s) go to a fresh one")


def safe_name(text: str, empty: str = "entry") -> str:
    """`text` as a file name: runs of anything but letters, digits, `.` and `-` become `_`."""
    return re.sub(r"[^\w.-]+", "_", text).strip("_") or empty


def file_stem(key: str) -> str:
    """A file name for an entry key, unique per key ("x y.py" and "x_y.py" differ)."""
    safe = safe_name(key)
    return safe if safe == key else f"{safe}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


__all__ = ["run_batch", "read_journal", "Interrupted", "Busy", "file_stem",
           "sigterm_like_ctrl_c"]
