"""Processes of a run, seen from the grader: who is alive, how much they hold, and teardown.

Everything here reads /proc and is a no-op where there is none (macOS, Windows): there the
portable path relies on killing the child's process group alone.
"""

from __future__ import annotations

import ctypes
import os
import signal
import time

PR_SET_CHILD_SUBREAPER = 36
PR_SET_PDEATHSIG = 1
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
HAVE_PROC = os.path.isdir("/proc/self/task")


def become_subreaper() -> None:
    """Orphans of our children (setsid daemons) are re-parented to us, not to init."""
    if HAVE_PROC:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def die_with_parent(parent: int | None = None) -> None:
    """Be killed when the parent process dies, however it dies (Linux; elsewhere a no-op).
    `parent` is the pid it had when this process started: if it is gone already, exit."""
    if not HAVE_PROC:
        return
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != (parent or os.getppid()):
        os._exit(1)


def _pids() -> list[str]:
    return [pid for pid in os.listdir("/proc") if pid.isdigit()] if HAVE_PROC else []


def _alive(pid: str) -> tuple[str, int] | None:
    """(state, parent pid) of a live process; None when it is gone or a zombie (a killed
    zombie is not alive)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2:].split()
    state = fields[0].decode()
    return None if state in ("Z", "X") else (state, int(fields[1]))


def _owner(pid: str) -> int | None:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


def live_processes(uid: int) -> list[int]:
    """Live processes of `uid` (the owner is checked first: it is cheaper)."""
    return [int(pid) for pid in _pids() if _owner(pid) == uid and _alive(pid)]


def live_uids() -> set[int]:
    """The uids that own a live process."""
    return {owner for pid in _pids() if _alive(pid) and (owner := _owner(pid)) is not None}


def descendants(roots: set[int]) -> list[int]:
    """Live processes below `roots` (the roots included), by parent links."""
    return _below(roots, _parents())


def of_session(child: int, reaper: int, known: set[int]) -> list[int]:
    """Every live process of a session run under our own uid: the child's tree, and the
    trees of orphans it left, which the subreaper `reaper` (this process, or the fork
    server) adopted; `known` are the reaper's children that are not the session's."""
    parents = _parents()
    adopted = {p for p, parent in parents.items() if parent == reaper} - known
    return _below({child} | adopted, parents)


def children_of(pid: int) -> set[int]:
    """The children of `pid` (for `of_session`'s `known`): from the kernel's list of each
    of its threads' children, where it keeps one, else by the parent links of every
    process (a scan of all of /proc, which costs milliseconds on a busy machine)."""
    found: set[int] = set()
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                found.update(int(child) for child in f.read().split())
    except OSError:
        return {p for p, parent in _parents().items() if parent == pid}
    return found


def _parents() -> dict[int, int]:
    return {int(pid): stat[1] for pid in _pids() if (stat := _alive(pid))}


def _below(roots: set[int], parents: dict[int, int]) -> list[int]:
    found, frontier = set(), set(roots) & set(parents)
    while frontier:
        found |= frontier
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
    return sorted(found)


def resident_bytes(pids: list[int]) -> int:
    """Memory the processes hold in RAM together (shared pages counted once per process,
    which can only overstate: a bound, never an excuse)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm", "rb") as f:
                total += int(f.read().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            continue
    return total


def kill_uid(uid: int) -> None:
    """SIGKILL every process of `uid`, from a helper that has become that uid (root only):
    a process of the sandbox uid cannot hide from kill(-1), whatever its process group."""
    for _ in range(50):
        if not live_processes(uid):
            return
        pid = os.fork()
        if pid == 0:
            try:
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
                os.kill(-1, signal.SIGKILL)  # every process we may signal: only our uid
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        time.sleep(0.001)


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, AttributeError):
        pass


def children() -> set[int]:
    """Our child processes, zombies included (the kernel lists them per thread)."""
    found: set[int] = set()
    for tid in os.listdir("/proc/self/task") if HAVE_PROC else ():
        try:
            with open(f"/proc/self/task/{tid}/children") as f:
                found.update(int(pid) for pid in f.read().split())
        except OSError:
            continue
    return found


SWEEP_SECONDS = 10.0


def sweep(keep: set[int]) -> None:
    """Kill and reap every child process but `keep` (those we had before the run): what is
    left are escaped daemons re-parented to us as subreaper. Until none is left, not a
    fixed number of rounds: a daemon that forks and exits in a loop hands us a new child
    each round (bounded in time in case the machine itself keeps one alive)."""
    deadline = time.monotonic() + SWEEP_SECONDS
    while time.monotonic() < deadline:
        strays = [pid for pid in children() if pid not in keep]
        if not strays:
            return
        for pid in strays:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in strays:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
