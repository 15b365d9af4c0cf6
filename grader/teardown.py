"""Nothing left behind: a batch's processes and temporary files end with it, however it ends.

A batch works inside one scratch folder of its own: the extracted class, and, through
TMPDIR, every work folder, harness copy and jail root its workers make. A watcher process
waits on a pipe from the batch. A batch that ends normally (or on Ctrl-C) cleans up and
tells the watcher so; a batch killed with SIGKILL cannot, and the watcher then does the same
cleaning within a fraction of a second:

- every process still working inside the scratch folder (its cwd or root lies there) is
  killed, and so is every process of a sandbox uid that no grader holds any more (a
  container without CAP_SYS_PTRACE hides other uids' folders, but not their uids);
- the folder is removed, never following a link a submission planted in it (students'
  folders are copied there links and all, and work folders hold what submissions made:
  `sandbox/folders.py`).

The batch's workers, their fork servers and the sandboxed children also die with their
parent (`processes.die_with_parent`), so none of them waits for the watcher.

    python -m grader.teardown FD FOLDER    # the watcher (started by `Scratch`)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from grader.sandbox import folders, tiers, uids
from grader.sandbox.child import processes

DONE = b"done"


def _inside(folder: str) -> list[int]:
    """Processes whose working folder or root lies in `folder`."""
    found = []
    for pid in os.listdir("/proc") if processes.HAVE_PROC else ():
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        for link in ("cwd", "root"):
            try:
                target = os.readlink(f"/proc/{pid}/{link}")
            except OSError:
                continue
            if target == folder or target.startswith(folder + "/"):
                found.append(int(pid))
                break
    return found


def _sandbox_uids_running() -> set[int]:
    """Sandbox uids of the pool with live processes (root only: they are not ours else)."""
    if os.name != "posix" or os.geteuid() != 0:
        return set()
    return processes.live_uids() & set(range(uids.POOL_BASE, uids.POOL_BASE + uids.POOL_SIZE))


def _kill_strays(folder: Path) -> int:
    """Kill what works in `folder` and the processes of orphaned sandbox uids; how many."""
    strays = _inside(str(folder))
    for pid in strays:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    # A uid's lock is free once its worker is dead; a live grader's uid is left alone.
    orphaned = [uid for uid in _sandbox_uids_running() if uids.reclaim(uid)]
    return len(strays) + len(orphaned)


def clean(folder: Path, settle: float = 0.0) -> None:
    """Kill what is left of the batch, then remove `folder`, and again while anything
    appears in it meanwhile: a worker killed a moment ago may still finish the call that
    makes its next work folder. After a SIGKILL, `settle` seconds let the workers die
    first (their sandbox uids are free only then)."""
    deadline = time.monotonic() + settle
    for _ in range(200):
        if not _kill_strays(folder) and time.monotonic() >= deadline:
            folders.remove(folder)
            if not os.path.lexists(folder):
                return
        time.sleep(0.01)
    folders.remove(folder)


class Scratch:
    """The batch's scratch folder and its watcher (a context manager)."""

    def __init__(self) -> None:
        self.folder = Path(tiers.temp_folder("batch"))
        os.chmod(self.folder, 0o711)  # sandbox uids pass through to their own work folders
        self.saved = (tempfile.tempdir, os.environ.get("TMPDIR"))
        self.write_fd, self.watcher = None, None
        if os.name == "posix":  # elsewhere a killed process has no SIGKILL to survive
            read_fd, self.write_fd = os.pipe()
            self.watcher = subprocess.Popen(
                [sys.executable, "-m", "grader.teardown", str(read_fd), str(self.folder)],
                pass_fds=(read_fd,), stdin=subprocess.DEVNULL, start_new_session=True,
                cwd="/", env={**os.environ, "PYTHONPATH": _package_root()})
            os.close(read_fd)

    def __enter__(self) -> Path:
        tempfile.tempdir = str(self.folder)
        os.environ["TMPDIR"] = str(self.folder)  # the workers' work folders go here too
        return self.folder

    def __exit__(self, *exc) -> None:
        tempfile.tempdir, tmpdir = self.saved
        if tmpdir is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = tmpdir
        clean(self.folder)
        if self.watcher is not None:
            os.write(self.write_fd, DONE)
            os.close(self.write_fd)
            self.watcher.wait()


def _package_root() -> str:
    """Where `grader` is imported from, so the watcher finds the same copy."""
    return str(Path(__file__).resolve().parents[1])


def watch(read_fd: int, folder: Path) -> None:
    """Wait for the batch to end; clean up unless it said it did."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the batch's to handle
    said = b""
    while chunk := os.read(read_fd, 64):
        said += chunk
    if said != DONE:
        clean(folder, settle=0.3)


if __name__ == "__main__":
    folder = Path(sys.argv[2])
    if folder.name.startswith("backprop-batch-"):  # never anything else
        watch(int(sys.argv[1]), folder)
