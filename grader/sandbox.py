"""Run a submission's functions in a child process and bring back what they returned.

The parent owns every deadline and every limit. The child (`child.py`, a fresh interpreter
started with `-I`) receives only the case inputs; results come back over a dedicated pipe as
nonce-tagged frames of JSON and raw .npy bytes (`wire.py`), never pickle. stdout and stderr
are read incrementally and capped. A hang or crash inside one exercise costs that exercise:
the parent kills the child and starts a fresh one for the exercises that follow.
"""

from __future__ import annotations

import json
import os
import secrets
import select
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from grader import jail, wire

HARNESS_FILES = ("child.py", "wire.py")
SIGNAL_NAMES = {signal.SIGSEGV: "SIGSEGV (segmentation fault)", signal.SIGBUS: "SIGBUS",
                signal.SIGABRT: "SIGABRT (abort)", signal.SIGFPE: "SIGFPE",
                signal.SIGILL: "SIGILL", signal.SIGKILL: "SIGKILL", signal.SIGXCPU: "SIGXCPU"}
# Variables the child may inherit; everything else (tokens, seeds, paths) stays behind.
PASSED_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "LD_LIBRARY_PATH", "SYSTEMROOT")


@dataclass(frozen=True)
class Limits:
    """What one submission may use. Assignment files may override any field."""

    exercise_seconds: float = 5.0
    import_seconds: float = 10.0
    total_seconds: float = 60.0
    memory_bytes: int = 1 << 30
    processes: int = 64
    file_bytes: int = 16 << 20
    open_files: int = 64
    output_bytes: int = 64 << 10
    result_bytes: int = 32 << 20

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


@dataclass
class Outcome:
    """What one call did. `status` is ok, raised, missing, timeout, crashed, bad_result or
    not_run; `output` holds the decoded return value when ok."""

    status: str
    output: dict | None = None
    args_after: list[np.ndarray | None] | None = None
    error: dict | None = None
    seconds: float = 0.0


@dataclass
class SandboxRun:
    import_error: dict | None
    outcomes: list[Outcome]
    stdout: str = ""
    stderr: str = ""
    dropped_output_bytes: int = 0
    notes: list[str] = field(default_factory=list)


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


def _child_env(home: Path) -> dict[str, str]:
    env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
    env.update(PATH="/usr/local/bin:/usr/bin:/bin", HOME=str(home), LANG="C.UTF-8",
               OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1", TMPDIR=str(home))
    return env


@dataclass
class Confinement:
    """How a run's children are started: limits, and the root jail when available."""

    limits: Limits
    jail: jail.Jail | None = None
    root: str = ""
    exposed: list[str] = field(default_factory=list)
    hidden: list[str] = field(default_factory=list)
    forbidden: list[str] = field(default_factory=list)
    blocked: dict[str, str] = field(default_factory=dict)

    def config(self, workdir: Path) -> dict:
        """What the child needs to confine itself (plain data: it may cross to a zygote)."""
        box = None
        if self.jail:
            box = {"workdir": str(self.jail.workdir), "uid": self.jail.uid, "root": self.root,
                   "exposed": self.exposed, "hidden": self.hidden, "blocked": self.blocked}
        return {"limits": asdict(self.limits), "jail": box, "workdir": str(workdir)}


def _encode_request(nonce: bytes, submission: str, calls: list[tuple[int, Call]],
                    forbidden: list[str]) -> bytes:
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
        return {"json": value}

    def step(s: dict) -> dict:
        return {**s, "args": [a if isinstance(a, dict) and "ref" in a else arg(a)
                              for a in s["args"]]}

    header = {"submission": submission, "forbidden": forbidden,
              "calls": [{"id": i, "function": c.function, "form": c.form,
                         "args": None if c.args is None else [arg(a) for a in c.args],
                         "program": [step(s) for s in c.program],
                         "returns": [list(r) for r in c.returns]}
                        for i, c in calls]}
    return wire.encode_frame(nonce, header, [wire.encode_array(a) for a in arrays])


def _decode_item(item: Any, arrays: list[np.ndarray]) -> dict:
    if not isinstance(item, dict):
        raise wire.WireError("malformed output description")
    if "blob" in item:
        return {"array": arrays[int(item["blob"])]}
    return {"invalid": str(item.get("invalid", "?"))[:100]}


def _decode_result(header: dict, arrays: list[np.ndarray]) -> Outcome:
    """Turn a child's result frame into an Outcome; malformed parts raise WireError."""
    try:
        status = header["status"]
        if status != "ok":
            if status not in ("raised", "missing"):
                raise wire.WireError(f"unknown status {status!r}")
            error = header.get("error")
            return Outcome(status, error=error if isinstance(error, dict) else None)
        out = header["output"]
        decoded: dict[str, Any] = {"container": str(out["container"])}
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
                       seconds=float(header.get("seconds", 0.0)))
    except (KeyError, IndexError, TypeError, ValueError) as e:
        raise wire.WireError(f"malformed result: {e}") from None


def _exit_reason(returncode: int | None) -> dict:
    if returncode is None:
        return {"type": "crashed", "message": "the child vanished"}
    if returncode < 0:
        sig = signal.Signals(-returncode)
        name = SIGNAL_NAMES.get(sig, sig.name)
        return {"type": "crashed", "message": f"the process crashed with {name}"}
    return {"type": "crashed",
            "message": f"the process exited (status {returncode}) before returning a result: "
                       "exit(), os._exit() or a fatal error"}


class _Spawned:
    """A child started as a fresh interpreter (`python -I child.py`)."""

    def __init__(self, workdir: Path, fds: tuple[int, int, int, int], config: dict):
        request_fd, result_fd, out_fd, err_fd = fds
        harness = workdir / ".harness" / "child.py"
        self.popen = subprocess.Popen(
            [sys.executable, "-I", str(harness), str(request_fd), str(result_fd)],
            stdin=subprocess.DEVNULL, stdout=out_fd, stderr=err_fd,
            pass_fds=(request_fd, result_fd), cwd=workdir, env=config["env"],
            start_new_session=True, preexec_fn=lambda: jail.confine(config))
        self.pid = self.popen.pid

    def wait(self, timeout: float) -> int | None:
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def sweep(self) -> None:
        """Nothing to do: orphans come to us as subreaper, `run_submission` sweeps them."""


class Zygote:
    """The grader's end of a `grader.zygote` fork server (see there)."""

    def __init__(self):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = _child_env(Path("/"))
        self.proc = subprocess.Popen([sys.executable, "-I", "-m", "grader.zygote",
                                      str(theirs.fileno())], pass_fds=(theirs.fileno(),),
                                     env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        theirs.close()
        self.sock = ours
        if self._receive(30.0) != {"ready": True}:
            self.close()
            raise RuntimeError("the fork server did not start")

    def _receive(self, timeout: float) -> dict | None:
        ready, _, _ = select.select([self.sock], [], [], max(timeout, 0))
        if not ready:
            return None
        data = self.sock.recv(1 << 16)
        if not data:
            raise RuntimeError("the fork server died")
        return json.loads(data)

    def launch(self, fds: tuple[int, ...], config: dict) -> _Forked:
        socket.send_fds(self.sock, [json.dumps(config).encode()], list(fds))
        message = self._receive(30.0)
        if not message or "pid" not in message:
            raise RuntimeError("the fork server did not start the child")
        return _Forked(self, message["pid"])

    def close(self) -> None:
        self.sock.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class _Forked:
    """A child forked by the zygote: its exit status arrives as a message."""

    def __init__(self, zygote: Zygote, pid: int):
        self.zygote, self.pid, self.returncode = zygote, pid, None

    def wait(self, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while self.returncode is None:
            message = self.zygote._receive(deadline - time.monotonic())
            if message is None:
                return None
            if message.get("exit") == self.pid:
                self.returncode = message["status"]
        return self.returncode

    def sweep(self) -> None:
        socket.send_fds(self.zygote.sock, [b'{"sweep": true}'], [])
        while True:
            message = self.zygote._receive(10.0)
            if message is None or "swept" in message:
                return


_zygote: Zygote | None = None


def use_zygote() -> bool:
    """Start children from a warm fork server from now on (batch workers do); False when
    it cannot start, e.g. when the grader is not installed as a package."""
    global _zygote
    if _zygote is None:
        try:
            _zygote = Zygote()
        except (OSError, RuntimeError):
            return False
    return True


class _Restart(Exception):
    """The child should be replaced by a fresh one before the next exercise."""


class _Session:
    """One child process working through a list of calls."""

    def __init__(self, workdir: Path, submission: Path, calls: list[tuple[int, Call]],
                 confinement: Confinement, out: _Capture, err: _Capture,
                 total_deadline: float):
        self.calls, self.confinement = calls, confinement
        self.limits = limits = confinement.limits
        self.out, self.err = out, err
        self.total_deadline = total_deadline
        self.nonce = secrets.token_bytes(wire.NONCE_BYTES)
        self.reader = wire.FrameReader(self.nonce, limits.result_bytes)
        self.imported: bool | None = None
        self.import_error: dict | None = None
        self.outcomes: dict[int, Outcome] = {}
        self.fault: dict | None = None
        self.restart = False
        self._start(workdir, submission)

    def _start(self, workdir: Path, submission: Path) -> None:
        req_r, req_w = os.pipe()
        res_r, res_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        config = {**self.confinement.config(workdir), "env": _child_env(workdir)}
        fds = (req_r, res_w, out_w, err_w)
        global _zygote
        try:
            if _zygote is not None:
                try:
                    self.proc = _zygote.launch(fds, config)
                except (OSError, RuntimeError):  # the fork server died: start fresh
                    _zygote = None
            if _zygote is None:
                self.proc = _Spawned(workdir, fds, config)
        finally:
            for fd in fds:
                os.close(fd)
        self.result_fd, self.out_fd, self.err_fd = res_r, out_r, err_r
        request = _encode_request(self.nonce, str(submission), self.calls,
                                  self.confinement.forbidden)
        try:
            with os.fdopen(req_w, "wb") as f:
                f.write(request)
        except BrokenPipeError:
            pass  # the child died at start-up; its exit status tells why
        self.deadline = min(time.monotonic() + self.limits.import_seconds, self.total_deadline)

    @property
    def next_index(self) -> int:
        return len(self.outcomes)

    def _on_frame(self, header: dict, blobs: list[bytes]) -> None:
        if self.imported is None:
            if header.get("type") != "import":
                raise wire.WireError("expected the import report first")
            self.imported = bool(header.get("ok"))
            if not self.imported:
                error = header.get("error")
                self.import_error = error if isinstance(error, dict) else {"type": "Error"}
            self.deadline = min(time.monotonic() + self.limits.exercise_seconds,
                                self.total_deadline)
            return
        if self.next_index >= len(self.calls):
            raise wire.WireError("more results than calls")
        index, call = self.calls[self.next_index]
        if header.get("type") != "result" or header.get("call") != index:
            raise wire.WireError("result for the wrong call")
        arrays = [wire.decode_array(b, self.limits.result_bytes) for b in blobs]
        self.outcomes[index] = _decode_result(header, arrays)
        following = self.calls[self.next_index:self.next_index + 1]
        if following and header.get("leftovers") is True:
            # Threads or processes left running would eat the next calls' time and
            # memory: stop here and give the rest a fresh child.
            raise _Restart()
        if following and following[0][1].exercise != call.exercise:
            self.deadline = min(time.monotonic() + self.limits.exercise_seconds,
                                self.total_deadline)

    def _read(self, fd: int, sel: selectors.BaseSelector) -> None:
        try:
            data = os.read(fd, 1 << 16)
        except OSError:
            data = b""
        if not data:
            sel.unregister(fd)
            return
        if fd == self.result_fd:
            for header, blobs in self.reader.feed(data):
                self._on_frame(header, blobs)
        else:
            (self.out if fd == self.out_fd else self.err).add(data)

    def run(self) -> None:
        sel = selectors.DefaultSelector()
        for fd in (self.result_fd, self.out_fd, self.err_fd):
            sel.register(fd, selectors.EVENT_READ)
        try:
            while self.result_fd in sel.get_map():
                remaining = self.deadline - time.monotonic()
                if remaining <= 0:
                    self.fault = {"type": "timeout"}
                    break
                for key, _ in sel.select(remaining):
                    self._read(key.fd, sel)
        except wire.WireError as e:
            self.fault = {"type": "bad_result", "message": str(e)}
        except _Restart:
            self.restart = True
        finally:
            self._stop(sel)

    def _stop(self, sel: selectors.BaseSelector) -> None:
        self.proc.wait(0.5 if self.fault is None else 0)
        _kill_group(self.proc.pid)
        returncode = self.proc.wait(2)
        if self.confinement.jail:
            jail.kill_uid(self.confinement.jail.uid)
        self.proc.sweep()
        for _ in range(4):  # keep what was already written; never wait for daemons
            ready = [k.fd for k, _ in sel.select(0) if k.fd != self.result_fd]
            if not ready:
                break
            for fd in ready:
                self._read(fd, sel)
        sel.close()
        for fd in (self.result_fd, self.out_fd, self.err_fd):
            os.close(fd)
        if self.fault is None and not self.restart and (
                self.imported is None or self.next_index < len(self.calls)):
            self.fault = _exit_reason(returncode)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _prepare_workdir(source: bytes, module_name: str) -> tuple[Path, Path]:
    workdir = Path(tempfile.mkdtemp(prefix="backprop-"))
    harness = workdir / ".harness"
    harness.mkdir()
    here = Path(__file__).resolve().parent
    for name in HARNESS_FILES:
        shutil.copyfile(here / name, harness / name)
    target = workdir / module_name
    target.write_bytes(source)
    return workdir, target


def _module_locations(names: list[str]) -> dict[str, str]:
    """Where installed copies of these modules live (found without importing them)."""
    import importlib.util

    found = {}
    for name in names:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec and spec.submodule_search_locations:
            found.update({path: name for path in spec.submodule_search_locations})
        elif spec and spec.origin and os.path.isfile(spec.origin):
            found[spec.origin] = name
    return found


def private_paths() -> list[Path]:
    """The grader's own files: package, reference and course content — every copy on the
    path (a checkout and an installed copy may both exist, as in CI)."""
    import site

    here = Path(__file__).resolve().parent
    found = {here, here.parent / "exercises", here.parent / "reference"}
    for entry in {*sys.path, *site.getsitepackages()}:
        for name in ("grader", "reference"):
            package = Path(entry or ".") / name
            if (package / "__init__.py").is_file():
                found.add(package.resolve())
    return sorted(found)


def _confinement(workdir: Path, limits: Limits, hidden: list[Path], forbidden: list[str],
                 notes: list[str]) -> Confinement:
    confined, probe_notes = jail.probe()
    notes += probe_notes
    if not confined:
        return Confinement(limits, forbidden=forbidden)
    box = jail.Jail(workdir)
    box.prepare()
    root = tempfile.mkdtemp(prefix="backprop-root-")
    exposed = box.exposed()
    # Hiding a folder that holds Python itself (a venv under /autograder) would leave the
    # child nothing to run: such a folder is invisible in the jail anyway, but for Python.
    private = [str(p) for p in private_paths() + list(hidden)
               if not any(e.startswith(str(p).rstrip("/") + "/") for e in exposed)]
    return Confinement(limits, box, root, exposed, private, forbidden,
                       _module_locations(forbidden))


def run_submission(source: bytes, calls: list[Call], limits: Limits = Limits(),
                   hidden: list[Path] = (), forbidden: list[str] = (),
                   module_name: str = "backprop.py") -> SandboxRun:
    """Run every call against the submission's source; one outcome per call, in order.

    `hidden` names more paths the child must not see (as root); `forbidden` names modules
    the submission may not import."""
    jail.become_subreaper()
    before = jail.children() | ({_zygote.proc.pid} if _zygote else set())
    out, err = _Capture(limits.output_bytes), _Capture(limits.output_bytes)
    outcomes: list[Outcome | None] = [None] * len(calls)
    total_deadline = time.monotonic() + limits.total_seconds
    workdir, target = _prepare_workdir(source, module_name)
    notes: list[str] = []
    confinement = _confinement(workdir, limits, list(hidden), list(forbidden), notes)
    pending = list(enumerate(calls))
    import_error = None
    try:
        while pending:
            session = _Session(workdir, target, pending, confinement, out, err, total_deadline)
            session.run()
            jail.sweep(before)  # reap what the session left: zombies count as processes
            if session.imported is not True:
                import_error = session.import_error or _import_fault(session.fault, limits)
                break
            for index, outcome in session.outcomes.items():
                outcomes[index] = outcome
            pending = pending[session.next_index:]
            if session.restart:
                continue
            if session.fault is None or not pending:
                break
            failed = pending[0][1].exercise
            for index, call in pending:
                if call.exercise == failed:
                    outcomes[index] = Outcome(session.fault["type"], error=session.fault)
            pending = [(i, c) for i, c in pending if c.exercise != failed]
            if time.monotonic() >= total_deadline:
                for index, _ in pending:
                    outcomes[index] = Outcome("timeout", error={
                        "type": "timeout", "message": "the submission's total time ran out"})
                break
    finally:
        jail.sweep(before)
        shutil.rmtree(workdir, ignore_errors=True)
        if confinement.root:
            os.rmdir(confinement.root)
    filled = [o or Outcome("not_run", error={"type": "not_run"}) for o in outcomes]
    return SandboxRun(import_error, filled, out.text(), err.text(), out.dropped + err.dropped,
                      notes)


def _import_fault(fault: dict | None, limits: Limits) -> dict:
    if fault is None:
        return {"type": "crashed", "message": "the process ended before reporting the import"}
    if fault["type"] == "timeout":
        return {"type": "timeout",
                "message": f"importing the submission took longer than {limits.import_seconds:g} s"}
    return fault
