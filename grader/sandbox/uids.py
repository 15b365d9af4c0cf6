"""A sandbox uid per grader, claimed from a pool under a lock.

Several graders on one machine (two TAs, a batch beside a `check`, the test suite beside a
student) must never share a uid: each kills every process of its uid after a run, and
RLIMIT_NPROC counts per uid. A grader process claims the first free uid of the pool by
holding an exclusive `flock` on that uid's lock file for as long as it lives; the kernel
drops the lock when the process dies, however it dies. A forked worker claims its own.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from grader.sandbox.child import processes

POOL_BASE = int(os.environ.get("BACKPROP_SANDBOX_UID", "64123"))
POOL_SIZE = 512
LOCK_DIRS = (Path("/run/backprop-grader"), Path("/tmp/.backprop-grader-uids"))

_claimed: tuple[int, int, int] | None = None  # (owner pid, uid, lock fd)


class PoolError(RuntimeError):
    """No sandbox uid could be claimed."""


def _lock_dir() -> Path:
    """A folder only root can write (a sandbox uid must not plant or remove locks)."""
    for folder in LOCK_DIRS:
        try:
            folder.mkdir(mode=0o700, exist_ok=True)
            info = os.lstat(folder)
        except OSError:
            continue
        if stat.S_ISDIR(info.st_mode) and info.st_uid == 0 and not info.st_mode & 0o022:
            return folder
    raise PoolError("no safe folder for the sandbox uid locks (tried "
                    f"{', '.join(map(str, LOCK_DIRS))}: each must be a root-owned folder "
                    "that nobody else can write)")


def _try_lock(folder: Path, uid: int, create: bool) -> int | None:
    """An fd holding `uid`'s lock exclusively, or None when a live grader holds it (or,
    without `create`, when the pool never handed it out)."""
    import fcntl  # POSIX only, like the uids it hands out

    flags = os.O_RDWR | os.O_NOFOLLOW | (os.O_CREAT if create else 0)
    try:
        fd = os.open(folder / f"{uid}.lock", flags, 0o600)
    except FileNotFoundError:
        if create:
            raise
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def claim() -> int:
    """This process's sandbox uid (root only), claimed on first use."""
    global _claimed
    if _claimed and _claimed[0] == os.getpid():
        return _claimed[1]
    folder = _lock_dir()
    for uid in range(POOL_BASE, POOL_BASE + POOL_SIZE):
        fd = _try_lock(folder, uid, create=True)
        if fd is None:
            continue
        processes.kill_uid(uid)  # left by a grader that died: nobody else owns it now
        _claimed = (os.getpid(), uid, fd)
        return uid
    raise PoolError(f"all {POOL_SIZE} sandbox uids from {POOL_BASE} are in use")


def reclaim(uid: int) -> bool:
    """Kill what runs as `uid` if no grader holds it (left by a grader that died), under
    its lock, so that no grader can claim it meanwhile. Whether it was free."""
    try:
        fd = _try_lock(_lock_dir(), uid, create=False)
    except (PoolError, OSError):
        return False
    if fd is None:
        return False
    try:
        processes.kill_uid(uid)
    finally:
        os.close(fd)  # drops the lock
    return True
