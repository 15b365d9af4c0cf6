"""Run a submission's functions in a child process and bring back what they returned.

The parent owns every deadline and every limit. The child (`child/harness.py`, a fresh
interpreter started with `-I -S`, or a fork of the warm `child/zygote.py`) receives only the
case inputs and its confinement plan (`tiers.py`); results come back over a dedicated pipe
as nonce-tagged frames of JSON and raw .npy bytes (`child/wire.py`), never pickle, within a
byte budget per submission. stdout and stderr are read incrementally and capped. A watchdog
bounds the memory and processes of the whole submission, and its work folder. A hang or
crash inside one exercise costs that exercise: the parent kills the child and starts a
fresh one for the exercises that follow.
"""

from __future__ import annotations

import math
import os
import queue
import secrets
import selectors
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from collections.abc import Callable
from typing import Any

import numpy as np

from grader.sandbox import folders, forkserver, tiers
from grader.sandbox.child import audit, jail, processes, wire
from grader.sandbox.forkserver import Zygote, child_command, child_env
from grader.sandbox.tiers import ConfinementError

SIGNAL_NAMES = {"SIGSEGV": "SIGSEGV (segmentation fault)", "SIGABRT": "SIGABRT (abort)"}


@dataclass(frozen=True)
class Limits:
    """What one submission may use. Assignment files may override any field."""

    exercise_seconds: float = 5.0
    import_seconds: float = 10.0  # per top-level statement (one past it is skipped)
    total_seconds: float = 60.0
    memory_bytes: int = 1 << 30
    processes: int = 64
    file_bytes: int = 16 << 20
    open_files: int = 64
    output_bytes: int = 64 << 10
    result_bytes: int = 32 << 20
    returned_bytes: int = 96 << 20  # everything one submission may send back in total
    disk_bytes: int = 32 << 20  # its work folder
    files: int = 256

    @classmethod
    def from_spec(cls, spec: dict | None) -> Limits:
        spec = dict(spec or {})
        unknown = set(spec) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown limit(s): {', '.join(sorted(unknown))}; known: "
                             f"{', '.join(cls.__dataclass_fields__)}")
        return cls(**spec)


@dataclass
class Call:
    """One call of a student function: `form` says what it should return. With `args`
    None the named module attribute (an answer dict) is read instead of called. With form
    "program", `program` chains student calls and array steps (see child.run_program):
    its arguments are encoded like `args`, and `returns` names the outputs to send back."""

    exercise: str
    function: str
    args: list[Any] | None  # np.ndarray, float, or JSON-able data
    form: str = "arrays"  # "arrays" (one or more), "array" (exactly one), "dict", "program"
    program: list[dict] = field(default_factory=list)
    returns: list[tuple[int, int]] = field(default_factory=list)
    watch: list[tuple[int, int]] = field(default_factory=list)  # values whose change to report


@dataclass
class Outcome:
    """What one call did. `status` is ok, raised, missing, timeout, crashed, bad_result,
    memory, processes, disk or not_run; `output` holds the decoded return value when ok."""

    status: str
    output: dict | None = None
    args_after: list[np.ndarray | None] | None = None
    error: dict | None = None
    seconds: float = 0.0
    printed: str = ""  # what the call printed (capped by the child, again here)
    printed_dropped: int = 0  # how many more characters it printed


@dataclass
class SandboxRun:
    """What the child returned for each call, and what the run saw on the way."""

    import_error: dict | None
    outcomes: list[Outcome]
    stdout: str = ""
    stderr: str = ""
    dropped_output_bytes: int = 0
    confinement: dict = field(default_factory=dict)  # the tier and the layers in force
    incidents: list[str] = field(default_factory=list)  # limits enforced, attempts audited
    skipped: list[dict] = field(default_factory=list)  # top-level statements left out


class _Capture:
    """Keep the first `cap` bytes of a stream, count the rest."""

    def __init__(self, cap: int):
        self.cap, self.data, self.dropped = cap, bytearray(), 0

    def add(self, chunk: bytes) -> None:
        room = self.cap - len(self.data)
        self.data += chunk[:max(room, 0)]
        self.dropped += max(len(chunk) - max(room, 0), 0)

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


FLOAT_LISTS_MIN = 64  # entries: a smaller table costs more to pack than to spell out


def _float_lists(value: Any) -> tuple[list[str], list[int], np.ndarray] | None:
    """A dict of lists of floats (a graph's local gradients: thousands of entries in a
    deep chain) as keys, lengths and one array: JSON would spell out every float, here
    and again in the child. None for anything else."""
    if not isinstance(value, dict) or len(value) < FLOAT_LISTS_MIN or \
            set(map(type, value)) != {str} or set(map(type, value.values())) != {list}:
        return None
    flat = [x for entry in value.values() for x in entry]
    if not set(map(type, flat)) <= {float}:
        return None
    return list(value), [len(entry) for entry in value.values()], np.array(flat, dtype=float)


def _encode_calls(nonce: bytes, calls: list[tuple[int, Call]]) -> bytes:
    arrays: list[np.ndarray] = []
    index: dict[int, int] = {}  # an array passed many times (a dataset) travels once

    def arg(value):
        if isinstance(value, np.ndarray):
            if id(value) not in index:
                index[id(value)] = len(arrays)
                arrays.append(value)
            return {"array": index[id(value)]}
        if isinstance(value, float):
            return {"float": value}
        table = _float_lists(value)
        if table is not None:
            keys, lengths, flat = table
            arrays.append(flat)
            return {"float_lists": {"keys": keys, "lengths": lengths, "array": len(arrays) - 1}}
        return {"json": value}

    def step(s: dict) -> dict:
        return {**s, "args": [a if isinstance(a, dict) and "ref" in a else arg(a)
                              for a in s["args"]]}

    header = {"calls": [{"id": i, "function": c.function, "form": c.form,
                         "args": None if c.args is None else [arg(a) for a in c.args],
                         "program": [step(s) for s in c.program],
                         "returns": [list(r) for r in c.returns],
                         "watch": [list(r) for r in c.watch]}
                        for i, c in calls]}
    return wire.encode_frame(nonce, header, [wire.encode_array(a) for a in arrays])


ERROR_FIELDS = ("type", "message", "function", "text", "forbidden", "private")


def _clean_error(error: Any) -> dict | None:
    """The child's description of an exception, as plain short strings of one line each
    (and a line number): a message's own line breaks could pass for rows of a report."""
    if not isinstance(error, dict):
        return None
    clean = {k: " ".join(str(error[k])[:2000].split()) for k in ERROR_FIELDS
             if error.get(k) is not None}
    if isinstance(error.get("line"), int) and not isinstance(error["line"], bool):
        clean["line"] = error["line"]
    return clean


def _decode_item(item: Any, arrays: list[np.ndarray]) -> dict:
    if not isinstance(item, dict):
        raise wire.WireError("malformed output description")
    if "blob" in item:
        return {"array": arrays[int(item["blob"])]}
    return {"invalid": str(item.get("invalid", "?"))[:100]}


PRINTED_CAP = 4200


def _decode_result(header: dict, arrays: list[np.ndarray]) -> Outcome:
    """Turn a child's result frame into an Outcome; anything malformed raises WireError."""
    try:
        status = header["status"]
        text = str(header.get("printed") or "")
        dropped = header.get("printed_dropped", 0)
        dropped = (dropped if isinstance(dropped, int) and dropped >= 0 else 0) + \
            max(len(text) - PRINTED_CAP, 0)
        printed = {"printed": text[:PRINTED_CAP], "printed_dropped": dropped}
        if status != "ok":
            if status not in ("raised", "missing"):
                raise wire.WireError(f"unknown status {str(status)[:40]!r}")
            return Outcome(status, error=_clean_error(header.get("error")), **printed)
        out = header["output"]
        decoded: dict[str, Any] = {"container": str(out["container"])[:40]}
        if "keys" in out:
            values = arrays[int(out["blob"])]
            keys = [str(k) for k in out["keys"]]
            if values.shape != (len(keys),):
                raise wire.WireError("dict keys and values do not match")
            decoded["dict"] = dict(zip(keys, values.astype(float).tolist()))
            decoded["bad"] = {str(k): str(v) for k, v in dict(out.get("bad", {})).items()}
        elif "items" in out:
            decoded["items"] = [_decode_item(i, arrays) for i in out["items"]]
        after = [_decode_item(i, arrays).get("array") for i in header.get("args_after", [])]
        return Outcome("ok", output=decoded, args_after=after,
                       seconds=float(header.get("seconds", 0.0)), **printed)
    except wire.WireError:
        raise
    except Exception as e:  # noqa: BLE001 - every malformed part is the child's verdict
        raise wire.WireError(f"malformed result: {type(e).__name__}") from None


def _exit_reason(returncode: int | None) -> dict:
    if returncode is None:
        return {"type": "crashed", "message": "the child vanished"}
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        name = SIGNAL_NAMES.get(name, name)
        return {"type": "crashed", "message": f"the process crashed with {name}"}
    return {"type": "crashed",
            "message": f"the process exited (status {returncode}) before returning a result: "
                       "exit(), os._exit() or a fatal error"}


class _Spawned:
    """A child started as a fresh interpreter (`python -I -S harness.py`)."""

    def __init__(self, workdir: Path, fds: tuple[int, int, int, int], config: dict):
        request_fd, result_fd, out_fd, err_fd = fds
        self.popen = subprocess.Popen(
            child_command("harness.py", str(request_fd), str(result_fd)),
            stdin=subprocess.DEVNULL, stdout=out_fd, stderr=err_fd,
            pass_fds=(request_fd, result_fd), cwd=workdir, env=config["env"],
            start_new_session=True, preexec_fn=lambda: jail.confine(config))
        self.pid = self.popen.pid

    def wait(self, timeout: float) -> int | None:
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        processes.kill_group(self.pid)

    def sweep(self) -> None:
        """Nothing to do: orphans come to us as subreaper, `run_submission` sweeps them."""


class _Portable(_Spawned):
    """A child started as a plain subprocess, as Windows and macOS allow: no pass_fds, no
    preexec_fn, no fork server. The request goes in on its stdin and results come back on
    its stdout (`harness.portable_channels`); it sets its own resource limits. Its own
    process group (a new session, or a new process group on Windows) is killed as a tree."""

    def __init__(self, workdir: Path, fds: tuple[int, int, int, int], config: dict,
                 popen: subprocess.Popen | None = None):
        self.popen = popen or forkserver.portable_child(workdir, fds, config["env"])
        self.pid = self.popen.pid

    def kill(self) -> None:
        if os.name == "nt":  # the whole tree: taskkill follows parent links
            subprocess.run(["taskkill", "/F", "/T", "/PID", str(self.pid)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        else:
            processes.kill_group(self.pid)
        self.popen.kill()  # the child itself, whatever became of its group


_zygote: Zygote | None = None


def use_zygote() -> bool:
    """Start children from a warm fork server from now on (batch workers do), or from the
    one `forkserver.start_early` started; False when it cannot start. It is waited for at
    the first child, and a server that never becomes ready leaves fresh interpreters."""
    global _zygote
    if tiers.current().portable:
        return False
    _zygote, forkserver.early = _zygote or forkserver.early, None
    if _zygote is None:
        try:
            _zygote = Zygote()
        except OSError:
            return False
    return True


class _Restart(Exception):
    """The child should be replaced by a fresh one before the next exercise."""


class _Budget:
    """What one submission may send back in total: the parent keeps every byte it
    accepts until judging, so a run of huge answers must not grow it without bound."""

    def __init__(self, limit: int):
        self.left = limit

    def take(self, blobs: list[bytes]) -> None:
        self.left -= sum(len(b) for b in blobs)
        if self.left < 0:
            raise wire.WireError("the submission returned more data than the grader keeps")


WATCH_EVERY = 0.1  # seconds between two looks at the submission's memory, processes, disk
# For a child to confine itself and report it. No student code runs before that report, so
# this is the machine's time, never charged to the submission: a child that ends or stays
# silent before it is the grader's failure (ConfinementError), one that ends after it the
# submission's.
STARTUP_SECONDS = 30.0


class _Session:
    """One child process working through calls, which arrive as they are planned."""

    def __init__(self, workdir: Path, plan: tiers.Plan, limits: Limits, streams: tuple,
                 budget: _Budget, total_deadline: float | None,
                 spare: forkserver.Spare | None = None):
        self.plan, self.limits = plan, limits
        self.workdir, self.budget = workdir, budget
        self.out, self.err = streams
        self.total_deadline = total_deadline  # None: starts when the child is confined
        self.nonce = secrets.token_bytes(wire.NONCE_BYTES)
        self.reader = wire.FrameReader(self.nonce, limits.result_bytes)
        self.calls: list[tuple[int, Call]] = []
        self.layers: list[str] | None = None  # reported by the child before student code
        self.statement: int | None = None  # the top-level statement running (its line)
        self.statement_since = 0.0  # when it started
        self.imported: bool | None = None
        self.import_error: dict | None = None
        self.skipped: list[dict] = []
        self.outcomes: dict[int, Outcome] = {}
        self.fault: dict | None = None
        self.failure: ConfinementError | None = None  # found while the grader planned
        self.restart = False
        self.ended = False  # no more calls will come
        self.waiting_since: float | None = None  # all answered, more to come: not its time
        self.leftovers = False  # its last call left threads or processes running
        self.audit: set[str] = set()  # what the submission tried (`child/audit.py`)
        self.stderr_before = len(self.err.data)  # stderr is shared by a submission's sessions
        if spare is not None:  # started as `check` loaded, in this work folder
            self.request_fd, res_r, out_r, err_r = spare.fds
            self.proc = _Portable(workdir, (), {}, spare.popen)
            self._watch_pipes(res_r, out_r, err_r)
        else:
            self._start()

    def _start(self) -> None:
        """Start the child; it waits for its request (`begin`), then confines itself."""
        req_r, self.request_fd = os.pipe()
        res_r, res_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        config = {**self.plan.config, "env": child_env(self.workdir)}
        fds = (req_r, res_w, out_w, err_w)
        global _zygote
        try:
            if self.plan.tier.portable:
                self.proc = _Portable(self.workdir, fds, config)
            elif _zygote is not None:
                try:
                    self.proc = _zygote.launch(fds, config)
                except (OSError, RuntimeError):  # the fork server died: start fresh
                    _zygote = None
            if not self.plan.tier.portable and _zygote is None:
                self.proc = _Spawned(self.workdir, fds, config)
        except (OSError, subprocess.SubprocessError) as e:
            for fd in (self.request_fd, res_r, out_r, err_r):
                os.close(fd)
            raise ConfinementError(f"the sandboxed child could not start: {e}") from None
        finally:
            for fd in fds:
                os.close(fd)
        self._watch_pipes(res_r, out_r, err_r)

    def _watch_pipes(self, res_r: int, out_r: int, err_r: int) -> None:
        self.result_fd, self.out_fd, self.err_fd = res_r, out_r, err_r
        # Orphans of the child go to a subreaper: their memory and number count too.
        zygote = getattr(self.proc, "zygote", None)
        self.reaper = zygote.proc.pid if zygote else os.getpid()
        # Only the sessions run under our own uid tell theirs from the reaper's others.
        self.known = processes.children_of(self.reaper) - {self.proc.pid} \
            if self.plan.uid is None else set()
        self.pipes = (_ThreadedPipes if self.plan.tier.portable else _SelectedPipes)(
            (res_r, out_r, err_r))

    def begin(self, submission: Path, forbidden: list[str], skip: list[int]) -> None:
        """Tell the child how to confine itself and what to import, leaving out the
        top-level statements that start at the lines in `skip`: it does so while the
        grader plans the calls (`pump`, then `send_calls`)."""
        self.pipes.send(self.request_fd, wire.encode_frame(self.nonce, {
            "submission": str(submission), "forbidden": forbidden,
            "lockdown": self.plan.lockdown, "skip": skip}))
        self.deadline = time.monotonic() + STARTUP_SECONDS
        self.next_watch = time.monotonic() + WATCH_EVERY

    def send_calls(self, calls: list[tuple[int, Call]]) -> None:
        """More calls for the child (an exercise's, as soon as it is planned). A session
        that has stopped keeps them for the next one (`_Progress.take`)."""
        self.calls += calls
        if self.leftovers:
            self.restart = True  # they go to a fresh child, as in `_on_result`
        if self._done() or not calls:
            return
        self.pipes.send(self.request_fd, _encode_calls(self.nonce, calls))
        self._resume()

    def end(self) -> None:
        """No more calls: the child ends once it has answered those it has."""
        self.ended = True
        self.pipes.send(self.request_fd, None)
        self._resume()

    def _resume(self) -> None:
        """The child waited for the grader to plan its next calls: that time was not the
        submission's, and the next exercise's starts now."""
        if self.waiting_since is not None:
            self.total_deadline += time.monotonic() - self.waiting_since
            self.waiting_since = None
            self._allow(self.limits.exercise_seconds)

    def _wait(self) -> None:
        """Everything sent is answered and more is to come: nothing to time."""
        self.waiting_since = time.monotonic()
        self.deadline = math.inf

    def _done(self) -> bool:
        return self.fault is not None or self.failure is not None or self.restart

    def pump(self) -> None:
        """Serve the child a moment while the grader plans, as `run` does: take what it
        sent (its pipes never stay full), watch its limits and its deadline. What goes
        wrong here ends `run` at once."""
        if not self._done():
            try:
                self._serve(0.0)
            except wire.WireError as e:
                self.fault = {"type": "bad_result", "message": str(e)}
            except ConfinementError as e:
                self.failure = e
            except _Restart:
                self.restart = True

    def _allow(self, seconds: float) -> None:
        """From now on, the child has `seconds` (at most what is left of the total)."""
        self.deadline = min(time.monotonic() + seconds, self.total_deadline)

    @property
    def next_index(self) -> int:
        return len(self.outcomes)

    def _on_frame(self, header: dict, blobs: list[bytes]) -> None:
        if self.layers is not None and isinstance(header.get("audit"), list):
            self.audit.update(k for k in header["audit"] if k in audit.KINDS)
        if self.layers is None:
            if header.get("type") != "locked" or header.get("ok") is not True:
                raise ConfinementError("the sandbox could not be set up: " +
                                       str(header.get("error", "no report from the child")))
            self.layers = [str(layer) for layer in header.get("layers", [])]
            if self.total_deadline is None:
                self.total_deadline = time.monotonic() + self.limits.total_seconds
            self._allow(self.limits.import_seconds)
            return
        if self.imported is None:
            self._on_import_frame(header)
            return
        self._on_result(header, blobs)

    def _on_import_frame(self, header: dict) -> None:
        """Each top-level statement is announced, then the import as a whole reported; each
        statement may run for `import_seconds`."""
        if header.get("type") == "statement":
            line = header.get("line")
            if not isinstance(line, int) or isinstance(line, bool):
                raise wire.WireError("malformed statement report")
            self.statement, self.statement_since = line, time.monotonic()
            self._allow(self.limits.import_seconds)
            return
        if header.get("type") != "import":
            raise wire.WireError("expected the import report first")
        self.statement = None
        self.imported = bool(header.get("ok"))
        if not self.imported:
            self.import_error = _clean_error(header.get("error")) or {"type": "Error"}
        skipped = header.get("skipped")
        self.skipped = [e for e in map(_clean_error, skipped[:20]) if e] \
            if isinstance(skipped, list) else []
        if self.imported and not self.calls and not self.ended:
            self._wait()
        else:
            self._allow(self.limits.exercise_seconds)

    def _on_result(self, header: dict, blobs: list[bytes]) -> None:
        if self.next_index >= len(self.calls):
            raise wire.WireError("more results than calls")
        index, call = self.calls[self.next_index]
        if header.get("type") != "result" or header.get("call") != index:
            raise wire.WireError("result for the wrong call")
        self.budget.take(blobs)
        arrays = [wire.decode_array(b, self.limits.result_bytes) for b in blobs]
        self.outcomes[index] = _decode_result(header, arrays)
        following = self.calls[self.next_index:self.next_index + 1]
        if following and header.get("leftovers") is True:
            # Threads or processes a call left running would eat the next calls' time and
            # memory: stop here and give the rest a fresh child. Never for those the import
            # started (the child does not count them): every fresh child starts them again.
            raise _Restart()
        if not following:
            self.leftovers = header.get("leftovers") is True
            if not self.ended:
                self._wait()
        elif following[0][1].exercise != call.exercise:
            self._allow(self.limits.exercise_seconds)

    def _take(self, fd: int, data: bytes) -> None:
        if fd == self.result_fd:
            for header, blobs in self.reader.feed(data):
                self._on_frame(header, blobs)
        else:
            (self.out if fd == self.out_fd else self.err).add(data)

    def _watch(self) -> None:
        """Bound the whole submission, not only each process: memory and processes of
        every process it started, and the bytes and files of its work folder."""
        if self.plan.uid is not None:
            pids = processes.live_processes(self.plan.uid)
        else:
            pids = processes.of_session(self.proc.pid, self.reaper, self.known)
        limits = self.limits
        if processes.resident_bytes(pids) > limits.memory_bytes:
            self.fault = {"type": "memory", "message": "its processes together used more than "
                          f"{limits.memory_bytes >> 20} MiB of memory"}
        elif len(pids) > limits.processes:
            self.fault = {"type": "processes",
                          "message": f"it ran more than {limits.processes} processes"}
        elif self.plan.tier.name != "full":  # the full tier's work folder is a capped tmpfs
            size, count = folders.usage(self.workdir, limits.files)
            if size > limits.disk_bytes or count > limits.files:
                self.fault = {"type": "disk", "message": "it wrote more than "
                              f"{limits.disk_bytes >> 20} MiB or {limits.files} files"}
        if self.fault is not None:
            # It costs the call the child was running when it was seen: those it had
            # answered by then are done, however late a busy machine lets us read them.
            try:
                self._take_answered()
            except (wire.WireError, _Restart):
                pass  # the fault stands, on the first call left unanswered

    def _take_answered(self) -> None:
        """Take what the child has sent, until its result pipe holds no more."""
        while True:
            found = self.pipes.poll(0)
            for fd, data in found:
                self._take(fd, data)
            if not any(fd == self.result_fd and data for fd, data in found):
                return

    def _serve(self, timeout: float) -> None:
        """One round: the deadline, the watch when it is due, then what arrives within
        `timeout` seconds (or before either is next due)."""
        now = time.monotonic()
        if now >= self.deadline and not self._answered_in_time():
            self.fault = {"type": "timeout"}
            return
        if now >= self.next_watch:
            self._watch()
            self.next_watch = now + WATCH_EVERY
            if self.fault:
                return
        for fd, data in self.pipes.poll(min(self.deadline, self.next_watch, now + timeout) - now):
            self._take(fd, data)

    def run(self) -> None:
        """Serve the child until it is done or stopped. Raises ConfinementError when it
        never reported its confinement: no student code ran, so that is not theirs."""
        try:
            if self.failure is not None:
                raise self.failure
            while not self._done() and self.pipes.is_open(self.result_fd):
                self._serve(STARTUP_SECONDS)
        except wire.WireError as e:
            self.fault = {"type": "bad_result", "message": str(e)}
        except _Restart:
            self.restart = True
        finally:
            self._stop()
        if self.layers is None:
            raise ConfinementError(self._unconfined())

    def _answered_in_time(self) -> bool:
        """At the deadline, what the child had already sent still counts (its other pipes'
        flood or a busy machine may have kept it unread): True if that moved the deadline."""
        self._take_answered()
        return time.monotonic() < self.deadline

    def _unconfined(self) -> str:
        if self.fault == {"type": "timeout"}:
            return f"the sandboxed child did not report its confinement within " \
                   f"{STARTUP_SECONDS:g} s (is the machine overloaded?)"
        said = self.err.data[self.stderr_before:].decode(errors="replace").strip()
        return "the sandboxed child stopped before it was confined" + (
            f": {said[-300:]}" if said else "")

    def _stop(self) -> None:
        # A child that answered everything ends by itself in a moment; one stopped for a
        # fault, or to be replaced, would only go on with calls nobody reads.
        self.proc.wait(0 if self.fault is not None or self.restart else 0.5)
        self.proc.kill()
        returncode = self.proc.wait(2)
        if self.plan.uid is not None:
            processes.kill_uid(self.plan.uid)
        self.proc.sweep()
        for fd, data in self.pipes.drain(skip=self.result_fd):  # keep what was written
            self._take(fd, data)
        self.pipes.close()
        if self.fault is None and not self.restart and (
                self.imported is None or self.next_index < len(self.calls)):
            self.fault = _exit_reason(returncode)


class _SelectedPipes:
    """The child's pipes, waited on with select (POSIX)."""

    def __init__(self, fds: tuple[int, ...]):
        self.fds = fds
        self.selector = selectors.DefaultSelector()
        for fd in fds:
            self.selector.register(fd, selectors.EVENT_READ)
        self.outbox: dict[int, bytearray] = {}  # what is still to write to the child
        self.closing: set[int] = set()  # closed once written (`send(fd, None)`)

    def send(self, fd: int, data: bytes | None) -> None:
        """Write `data` to the child's request pipe as it reads it, never waiting on a
        child that does not; None closes the pipe once all is written."""
        if fd not in self.outbox:
            os.set_blocking(fd, False)
            self.outbox[fd] = bytearray()
        if data is None:
            self.closing.add(fd)
        else:
            self.outbox[fd] += data
        self._write(fd)

    def _write(self, fd: int) -> None:
        pending = self.outbox[fd]
        try:
            while pending:
                del pending[:os.write(fd, pending)]
        except BlockingIOError:  # the pipe is full: the rest once the child has read some
            if fd not in self.selector.get_map():
                self.selector.register(fd, selectors.EVENT_WRITE)
            return
        except OSError:
            pending.clear()  # the child is gone; its exit status tells why
        if fd in self.selector.get_map():
            self.selector.unregister(fd)
        if fd in self.closing:
            self._close_request(fd)

    def _close_request(self, fd: int) -> None:
        if fd in self.selector.get_map():
            self.selector.unregister(fd)
        del self.outbox[fd]
        self.closing.discard(fd)
        os.close(fd)

    def is_open(self, fd: int) -> bool:
        return fd in self.selector.get_map()

    def _read(self, fd: int) -> bytes:
        try:
            data = os.read(fd, 1 << 16)
        except OSError:
            data = b""
        if not data:
            self.selector.unregister(fd)
        return data

    def poll(self, timeout: float) -> list[tuple[int, bytes]]:
        """What arrived within `timeout` seconds; b"" marks a pipe that closed. Writes
        what the child is ready to read meanwhile."""
        found = []
        for key, _ in self.selector.select(timeout):
            if key.fd in self.outbox:
                self._write(key.fd)
            else:
                found.append((key.fd, self._read(key.fd)))
        return found

    def drain(self, skip: int) -> list[tuple[int, bytes]]:
        """What is already waiting, without waiting for daemons that hold a pipe open."""
        found = []
        for _ in range(4):
            ready = [key.fd for key, _ in self.selector.select(0)
                     if key.fd != skip and key.fd not in self.outbox]
            if not ready:
                break
            found += [(fd, self._read(fd)) for fd in ready]
        return found

    def close(self) -> None:
        for fd in list(self.outbox):
            self._close_request(fd)
        self.selector.close()
        for fd in self.fds:
            os.close(fd)


class _ThreadedPipes:
    """The child's pipes, read by one thread each into a queue: Windows cannot select()
    on pipes. Each thread closes its own pipe at end of file, so no descriptor is closed
    under a blocked read (and reused by another file meanwhile)."""

    def __init__(self, fds: tuple[int, ...]):
        self.events: queue.Queue[tuple[int, bytes]] = queue.Queue()
        self.open = set(fds)
        for fd in fds:
            threading.Thread(target=self._pump, args=(fd,), daemon=True).start()
        self.outbox: queue.Queue[bytes | None] | None = None

    def send(self, fd: int, data: bytes | None) -> None:
        """Write to the child's request pipe from a thread of its own, which closes it
        after None: a child that does not read blocks that thread only."""
        if self.outbox is None:
            self.outbox = queue.Queue()
            threading.Thread(target=self._write, args=(fd, self.outbox), daemon=True).start()
        self.outbox.put(data)

    @staticmethod
    def _write(fd: int, outbox: queue.Queue) -> None:
        try:
            while (data := outbox.get()) is not None:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
        except OSError:
            pass  # the child is gone; its exit status tells why
        finally:
            os.close(fd)

    def _pump(self, fd: int) -> None:
        try:
            while data := os.read(fd, 1 << 16):
                self.events.put((fd, data))
        except OSError:
            pass
        finally:
            os.close(fd)
            self.events.put((fd, b""))

    def is_open(self, fd: int) -> bool:
        return fd in self.open

    def poll(self, timeout: float) -> list[tuple[int, bytes]]:
        found = []
        try:
            found.append(self.events.get(timeout=max(timeout, 0)))
            while True:
                found.append(self.events.get_nowait())
        except queue.Empty:
            pass
        self.open -= {fd for fd, data in found if not data}
        return found

    def drain(self, skip: int) -> list[tuple[int, bytes]]:
        """What the killed child wrote, waiting briefly for its pipes to close."""
        found, deadline = [], time.monotonic() + 0.5
        while self.open - {skip} and time.monotonic() < deadline:
            found += self.poll(0.05)
        return [(fd, data) for fd, data in found if fd != skip]

    def close(self) -> None:
        """Each pipe is closed by its own thread; the request's once it is written."""
        if self.outbox is not None:
            self.outbox.put(None)


def _prepare_workdir(source: bytes, module_name: str,
                     workdir: Path | None = None) -> tuple[Path, Path]:
    workdir = workdir or Path(tiers.temp_folder("work"))
    target = workdir / module_name
    target.write_bytes(source)
    return workdir, target


def run_submission(source: bytes,
                   calls: list[Call] | Callable[[Callable[[list[Call]], None]], list[Call]],
                   limits: Limits = Limits(), hidden: list[Path] = (),
                   forbidden: list[str] = (), module_name: str = "backprop.py") -> SandboxRun:
    """Run every call against the submission's source; one outcome per call, in order.

    `calls` may be a function that makes them, an exercise at a time, and hands each
    exercise's to its argument as soon as they are made: the first child confines itself,
    imports the submission and runs those calls while the next are planned. (While the
    fork server is still loading, they wait for it: it starts the child between two.)
    `hidden` names more paths the child must not see; `forbidden` names modules the
    submission may not import. Raises ConfinementError, before any student code has
    run, when the sandbox the environment promises cannot be set up."""
    processes.become_subreaper()
    if forkserver.early is not None:  # `check` started one before its own imports
        use_zygote()
    spare = forkserver.take_spare() if tiers.current().portable else None
    before = processes.children() - ({spare.popen.pid} if spare else set()) | \
        ({_zygote.proc.pid} if _zygote else set())
    streams = (_Capture(limits.output_bytes), _Capture(limits.output_bytes))
    workdir, target = _prepare_workdir(source, module_name, spare and spare.workdir)
    budget = _Budget(limits.returned_bytes)
    plan = None
    try:
        plan = tiers.plan(workdir, asdict(limits), [str(h) for h in hidden], list(forbidden))
        found = _Progress(source, limits)
        session: _Session | None = None

        def start_first() -> _Session:
            nonlocal spare
            # The submission's time starts when its first child is confined: the
            # machine's start-up is not its doing (fresh children after a fault are).
            first = _Session(workdir, plan, limits, streams, budget, None, spare)
            spare = None  # the session's now
            first.begin(target, list(forbidden), [])
            first.send_calls(found.pending)  # what was planned while the server loaded
            return first

        def loading() -> bool:  # the fork server `check` started as it loaded
            return _zygote is not None and _zygote.starting()

        def planned(more: list[Call]) -> None:
            nonlocal session
            added = found.add(more)
            if session is not None:
                session.send_calls(added)
            elif not loading():
                session = start_first()  # the server is ready: all planned so far go
            if session is not None:
                session.pump()

        if not loading():
            session = start_first()
        calls(planned) if callable(calls) else planned(calls)
        session = session or start_first()
        while True:
            session.end()
            session.run()
            processes.sweep(before)  # reap what the session left: zombies count as processes
            if session.fault and session.fault["type"] == "disk":
                _reset_workdir(workdir, target, source)  # or it fills the next gate's too
            if not found.take(session):
                break
            session = _Session(workdir, plan, limits, streams, budget, found.total_deadline)
            session.begin(target, list(forbidden), sorted(found.stopped))
            session.send_calls(found.pending)
    finally:
        if spare is not None:  # the run stopped before its first session
            spare.stop()
        processes.sweep(before)
        folders.remove(workdir)  # folders it made unreadable and links included
        for root in plan.roots if plan else ():
            os.rmdir(root)
    out, err = streams
    confinement = {**plan.tier.describe(), "layers": plan.layers + (found.layers or [])}
    return SandboxRun(found.import_error, found.filled(), out.text(), err.text(),
                      out.dropped + err.dropped, confinement, sorted(found.incidents),
                      found.skipped())


def _reset_workdir(workdir: Path, target: Path, source: bytes) -> None:
    """Back to the submission alone, as the run began: what one gate wrote past the disk
    limit costs that gate only, whatever the timing of the next one's watchdog."""
    with os.scandir(workdir) as entries:
        for entry in entries:
            if entry.name == target.name:
                continue
            if entry.is_dir(follow_symlinks=False):
                folders.remove(entry.path)
            else:
                os.unlink(entry.path)
    fd = os.open(target, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW)
    with os.fdopen(fd, "wb") as f:
        f.write(source)


LIMIT_FAULTS = ("memory", "processes", "disk")
TOTAL_TIMEOUT = {"type": "timeout", "message": "the submission's total time ran out"}


class _Progress:
    """What the sessions of one submission found, and what is left to run. The first
    import that completes is the file's verdict: a later child that fails to import again
    (a fresh one for the next exercise) costs that exercise only."""

    def __init__(self, source: bytes, limits: Limits):
        self.pending: list[tuple[int, Call]] = []
        self.outcomes: list[Outcome | None] = []
        self.lines, self.limits = source.splitlines(), limits
        self.total_deadline = 0.0  # set by the first child that is confined
        self.refunded = 0.0  # seconds of stopped top-level statements, not the submission's
        self.imported = False
        self.import_error: dict | None = None
        self.layers: list[str] | None = None
        self.incidents: set[str] = set()
        self.raised: list[dict] = []  # top-level statements that raised, from the child
        self.stopped: dict[int, dict] = {}  # those the grader stopped, by first line

    def add(self, calls: list[Call]) -> list[tuple[int, Call]]:
        """More calls to run, numbered on from those before."""
        added = list(enumerate(calls, len(self.outcomes)))
        self.pending += added
        self.outcomes += [None] * len(calls)
        return added

    def take(self, session: _Session) -> bool:
        """Take what a session found; True when a fresh child should go on."""
        self.total_deadline = session.total_deadline  # set: the session was confined
        self.layers = session.layers if self.layers is None else self.layers
        self.incidents |= session.audit
        if session.fault and session.fault["type"] in LIMIT_FAULTS:
            self.incidents.add(session.fault["type"])
        if session.imported is not True:
            return self._not_imported(session)
        self.imported, self.raised = True, session.skipped
        for index, outcome in session.outcomes.items():
            self.outcomes[index] = outcome
        self.pending = self.pending[session.next_index:]
        if session.fault is not None and not session.restart:
            self._fail_next(session.fault["type"], session.fault)
        elif not session.restart:
            return False
        return self._time_left()

    def _not_imported(self, session: _Session) -> bool:
        out_of_time = time.monotonic() >= self.total_deadline
        if session.fault is not None and session.statement is not None and not out_of_time:
            self._stop_statement(session.statement, session.fault)
            self._refund(time.monotonic() - session.statement_since)
            return True
        if not self.imported:
            self.import_error = session.import_error or \
                _import_fault(session.fault, self.limits, out_of_time)
            return False
        if session.import_error:  # the file imported before: this child costs its exercise
            self._fail_next("raised", session.import_error)
        elif not out_of_time:
            self._fail_next(session.fault["type"], session.fault)
        return self._time_left()

    def _stop_statement(self, line: int, fault: dict) -> None:
        """A top-level statement that ran past its time or ended the process is left out of
        every child from now on and listed with its line, like one that raised: code
        outside the functions never costs the file."""
        why = f"still running after {self.limits.import_seconds:g} s, so the grader ended " \
            "it" if fault["type"] == "timeout" else fault.get("message", fault["type"])
        text = self.lines[line - 1].decode(errors="replace").strip() \
            if 0 < line <= len(self.lines) else ""
        self.stopped[line] = {"type": "stopped", "line": line, "text": text[:200],
                              "message": f"{why}; the rest of the file ran without it"}
        if fault["type"] in ("timeout", "crashed"):
            self.incidents.add(fault["type"])

    def _refund(self, seconds: float) -> None:
        """A statement the grader left out ran on the grader's time, not the submission's:
        its functions keep all theirs. Up to `total_seconds` in all, which bounds what a
        file of many slow statements costs the grader (then they count again)."""
        seconds = min(seconds, self.limits.total_seconds - self.refunded)
        self.refunded += seconds
        self.total_deadline += seconds

    def _fail_next(self, status: str, error: dict) -> None:
        """A fault costs the exercise it happened in: its calls not yet answered."""
        failed = self.pending[0][1].exercise if self.pending else None
        for index, call in self.pending:
            if call.exercise == failed:
                self.outcomes[index] = Outcome(status, error=error)
        self.pending = [(i, c) for i, c in self.pending if c.exercise != failed]

    def _time_left(self) -> bool:
        """True when calls are left and time to run them; else they time out."""
        if self.pending and time.monotonic() >= self.total_deadline:
            for index, _ in self.pending:
                self.outcomes[index] = Outcome("timeout", error=dict(TOTAL_TIMEOUT))
            self.pending = []
        return bool(self.pending)

    def filled(self) -> list[Outcome]:
        return [o or Outcome("not_run", error={"type": "not_run"}) for o in self.outcomes]

    def skipped(self) -> list[dict]:
        """Every top-level statement left out, in the file's order."""
        return sorted(self.raised + list(self.stopped.values()),
                      key=lambda e: e.get("line", 0))


def _import_fault(fault: dict | None, limits: Limits, out_of_time: bool) -> dict:
    """Why an import never reported, outside any one statement."""
    if fault is None:
        return {"type": "crashed", "message": "the process ended before reporting the import"}
    if fault["type"] == "timeout":
        return {"type": "timeout", "message": f"its top-level code used up the submission's "
                f"{limits.total_seconds:g} s" if out_of_time else
                f"importing the submission took longer than {limits.import_seconds:g} s"}
    return fault
