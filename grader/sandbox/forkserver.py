"""The grader's end of the warm fork server (`child/zygote.py`), and the children's
environment. Nothing here imports numpy: `backprop check` starts the fork server before
its own imports (`start_early`), so that the child's Python and numpy load on another
core while the grader loads, and the first child is a fork away when the grader needs it.
Where there is no fork server (the portable path), it starts its first child itself
(`Spare`), for the same reason.
"""

from __future__ import annotations

import atexit
import functools
import importlib.util
import json
import os
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

from grader.sandbox import folders, tiers
from grader.sandbox.child import processes

# Variables the child may inherit; everything else (tokens, seeds, paths) stays behind.
PASSED_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "LD_LIBRARY_PATH", "SYSTEMROOT")
READY_SECONDS = 30.0


def child_env(home: Path) -> dict[str, str]:
    env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
    env.update(PATH="/usr/local/bin:/usr/bin:/bin", HOME=str(home), LANG="C.UTF-8",
               OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1", TMPDIR=str(home),
               BACKPROP_NUMPY_PATH=numpy_path())
    return env


def child_command(script: str, *args: str) -> list[str]:
    """A fresh interpreter for the child side (`harness.py` or `zygote.py`): isolated, and
    without `site` (-S), so that no .pth file of the grader's environment runs in it and it
    starts sooner. Its path is the standard library and numpy's folder (`child_env`)."""
    return [sys.executable, "-I", "-S", os.path.join(tiers.harness_dir(), script), *args]


@functools.lru_cache(maxsize=1)
def numpy_path() -> str:
    """The path entry numpy is installed in, found without importing numpy."""
    spec = importlib.util.find_spec("numpy")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("numpy is not installed for this Python")
    return os.path.dirname(os.path.abspath(list(spec.submodule_search_locations)[0]))


class Zygote:
    """A `child/zygote.py` fork server. It starts at once and is waited for only at its
    first launch: whoever starts it goes on with its own work meanwhile."""

    def __init__(self):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.proc = subprocess.Popen(child_command("zygote.py", str(theirs.fileno())),
                                     pass_fds=(theirs.fileno(),),
                                     env=child_env(Path("/")), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        theirs.close()
        self.sock = ours
        self.ready = False

    def _receive(self, timeout: float) -> dict | None:
        ready, _, _ = select.select([self.sock], [], [], max(timeout, 0))
        if not ready:
            return None
        data = self.sock.recv(1 << 16)
        if not data:
            raise RuntimeError("the fork server died")
        return json.loads(data)

    def wait_ready(self) -> None:
        """Raises RuntimeError when it did not start (the caller starts children fresh)."""
        if not self.ready and self._receive(READY_SECONDS) != {"ready": True}:
            raise RuntimeError("the fork server did not start")
        self.ready = True

    def starting(self) -> bool:
        """Is it still loading (not ready, not failed), without waiting?"""
        if not self.ready:
            try:
                self.ready = self._receive(0) == {"ready": True}
            except (OSError, RuntimeError):
                return False  # dead: the first launch finds out and starts children fresh
        return not self.ready

    def launch(self, fds: tuple[int, ...], config: dict) -> Forked:
        self.wait_ready()
        socket.send_fds(self.sock, [json.dumps(config).encode()], list(fds))
        message = self._receive(READY_SECONDS)
        if not message or "pid" not in message:
            raise RuntimeError("the fork server did not start the child")
        return Forked(self, message["pid"])

    def close(self) -> None:
        self.sock.close()
        if not self.ready:  # still loading (`check --help`, a bad path): nothing to finish
            self.proc.kill()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Forked:
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

    def kill(self) -> None:
        processes.kill_group(self.pid)

    def sweep(self) -> None:
        socket.send_fds(self.zygote.sock, [b'{"sweep": true}'], [])
        while True:
            message = self.zygote._receive(10.0)
            if message is None or "swept" in message:
                return


def portable_child(workdir: Path, fds: tuple[int, ...], env: dict) -> subprocess.Popen:
    """A child started as a plain subprocess, as Windows and macOS allow (`runner._Portable`):
    its request on its stdin, its results on its stdout, its own process group."""
    request_fd, result_fd, _, err_fd = fds
    windows = os.name == "nt"
    return subprocess.Popen(
        child_command("harness.py", "--portable"),
        stdin=request_fd, stdout=result_fd, stderr=err_fd, cwd=workdir, env=env,
        start_new_session=not windows,
        creationflags=subprocess.CREATE_NEW_PROCESS_GROUP if windows else 0)


class Spare:
    """Where there is no fork server (the portable path), the first child started before
    it is needed, in a work folder of its own: its Python and numpy load while the grader
    loads, and it reads nothing but its request, which it waits for on its stdin. `fds`
    are the grader's ends: request (write), result, stdout and stderr (read)."""

    def __init__(self):
        self.workdir = Path(tiers.temp_folder("work"))
        pipes = [os.pipe() for _ in range(4)]
        theirs = (pipes[0][0], pipes[1][1], pipes[2][1], pipes[3][1])
        self.fds = (pipes[0][1], pipes[1][0], pipes[2][0], pipes[3][0])
        try:
            self.popen = portable_child(self.workdir, theirs, child_env(self.workdir))
        except (OSError, subprocess.SubprocessError):
            self.close(self.fds)
            folders.remove(self.workdir)
            raise
        finally:
            self.close(theirs)

    @staticmethod
    def close(fds: tuple[int, ...]) -> None:
        for fd in fds:
            os.close(fd)

    def stop(self) -> None:
        """Never used: it is stopped (its folder is the caller's to remove)."""
        self.popen.kill()
        self.popen.wait()
        self.close(self.fds)


early: Zygote | None = None
spare: Spare | None = None


def take_spare() -> Spare | None:
    """The child `start_early` started, for the first run (which works in its folder)."""
    global spare
    taken, spare = spare, None
    return taken


def _discard_spare() -> None:
    unused = take_spare()
    if unused is not None:
        unused.stop()
        folders.remove(unused.workdir)


def start_early() -> None:
    """Start the fork server now, before the grader imports numpy (where the tier has
    one; elsewhere the first child itself, `Spare`); `runner` takes it over at its first
    child. A failure here costs nothing: the children are then started fresh."""
    global early, spare
    try:
        if not tiers.current().portable:
            early = Zygote()
            # Gone when `check` is: it would otherwise see the end of its socket a moment
            # later, a process of the user's still alive after the command returned.
            atexit.register(early.close)
        else:
            spare = Spare()
            atexit.register(_discard_spare)  # when `check` stops before it grades
    except (OSError, RuntimeError, subprocess.SubprocessError):
        early = spare = None
