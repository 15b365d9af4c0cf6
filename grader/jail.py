"""Confinement of the sandboxed child beyond resource limits.

As root (Gradescope containers, CI) the child is started in its own mount and network
namespaces and chrooted into a minimal tree built from read-only binds of the system
(/usr, /lib, /etc, ...) and of the Python installation, plus its private work folder and a
fresh /tmp. The grader's own package, the exercises and any path the caller names are
covered by empty tmpfs mounts, so they do not exist for the child; neither do /root,
/home, the class folder or other students' work. Then it drops to a dedicated unprivileged
uid. Without root (a student's laptop) none of this is possible: the child runs with the
user's own rights, limited by rlimits only, and the report says so.

Whatever escapes the process group (setsid daemons, double forks) is caught by the
grader being a child subreaper, and, as root, by killing every process of the sandbox uid.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

CLONE_NEWNS, CLONE_NEWNET = 0x00020000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 36, 38
SANDBOX_UID = int(os.environ.get("BACKPROP_SANDBOX_UID", "64123"))
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int,
           data: str | None = None) -> None:
    enc = (lambda s: s.encode() if s is not None else None)
    _check(_libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)),
           f"mount {target}")


def _block_module(target: str, module: str) -> None:
    """Replace a package folder (or module file) by one whose import fails clearly."""
    if os.path.isdir(target):
        _mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=16k")
        target = os.path.join(target, "__init__.py")
    elif os.path.isfile(target):
        _mount("tmpfs", os.path.dirname(target), "tmpfs", MS_NOSUID | MS_NODEV,
               "mode=0755,size=16k")  # the file's folder holds nothing else we need
    else:
        return
    with open(target, "w") as f:
        f.write(f"raise ImportError({module + ' is forbidden in this course'!r}, "
                f"name={module!r})\n")
    _mount(None, os.path.dirname(target), None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def become_subreaper() -> None:
    """Orphans of our children (setsid daemons) are re-parented to us, not to init."""
    _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


@dataclass
class Jail:
    """What the root-mode child may see. Built in the parent, entered in the child."""

    workdir: Path
    uid: int = field(default_factory=lambda: SANDBOX_UID)  # batch workers set their own
    network: bool = True  # try a private network namespace

    def exposed(self) -> list[str]:
        """System and Python directories to bind read-only, outermost first."""
        import numpy  # the child needs exactly this beside the standard library

        paths = set(SYSTEM_DIRS)
        for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, Path(numpy.__file__).parent.parent):
            paths |= {str(p), os.path.realpath(p)}
        kept: list[str] = []
        for p in sorted(paths, key=len):
            if os.path.lexists(p) and not any(p == k or p.startswith(k + "/") for k in kept):
                kept.append(p)
        return kept

    def enter(self, root: str, exposed: list[str], hidden: list[str],
              blocked: dict[str, str] | None = None) -> None:
        """Runs in the forked child as root, before exec: namespaces, tree, chroot.

        `hidden` folders become empty; `blocked` maps a module's folder or file to its
        name, which then fails to import whatever the student's code does."""
        _check(_libc.unshare(CLONE_NEWNS), "unshare(mount namespace)")
        if self.network:
            _libc.unshare(CLONE_NEWNET)  # refusal was reported by the probe
        _mount(None, "/", None, MS_REC | MS_PRIVATE)
        _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
        # A fresh /tmp first: Python or the work folder may live below /tmp.
        os.makedirs(root + "/tmp", exist_ok=True)
        _mount("tmpfs", root + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=64m")
        for path in exposed:
            target = root + path
            if os.path.islink(path):
                os.makedirs(os.path.dirname(target), exist_ok=True)
                os.symlink(os.readlink(path), target)
                continue
            os.makedirs(target, exist_ok=True)
            _mount(path, target, None, MS_BIND | MS_REC)
            _mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID)
        os.makedirs(root + "/dev", exist_ok=True)
        _mount("/dev", root + "/dev", None, MS_BIND | MS_REC)
        os.makedirs(root + "/proc", exist_ok=True)  # hidepid: only the sandbox's own processes
        _mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2")
        work = root + str(self.workdir)
        os.makedirs(work, exist_ok=True)
        _mount(str(self.workdir), work, None, MS_BIND | MS_NOSUID | MS_NODEV)
        for path in hidden:
            if os.path.isdir(root + path):
                _mount("tmpfs", root + path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV,
                       "mode=0000,size=4k")
        for path, module in (blocked or {}).items():
            _block_module(root + path, module)
        os.chroot(root)
        os.chdir(str(self.workdir))

    def drop(self) -> None:
        """Become the sandbox uid for good (after rlimits, which need no privilege)."""
        os.setgroups([])
        os.setresgid(self.uid, self.uid, self.uid)
        os.setresuid(self.uid, self.uid, self.uid)
        _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)

    def prepare(self) -> None:
        """Parent side: hand the work folder to the sandbox uid."""
        for dirpath, dirnames, filenames in os.walk(self.workdir):
            for name in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
                os.lchown(name, self.uid, self.uid)
        os.chmod(self.workdir, 0o700)


def limit_resources(limits: dict) -> None:
    """Cap what the student's code can take (in the child, before it runs)."""
    cpu = int(limits["total_seconds"]) + 5
    for res, value in ((resource.RLIMIT_AS, limits["memory_bytes"]),
                       (resource.RLIMIT_FSIZE, limits["file_bytes"]),
                       (resource.RLIMIT_NOFILE, limits["open_files"]),
                       (resource.RLIMIT_CORE, 0),
                       (resource.RLIMIT_NPROC, limits["processes"])):
        resource.setrlimit(res, (value, value))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))


def confine(config: dict) -> None:
    """Everything a child does to itself before running student code, in this order:
    enter the jail (as root), cap resources, drop to the sandbox uid for good."""
    box = config.get("jail")
    if box:
        jail = Jail(Path(box["workdir"]), box["uid"])
        jail.enter(box["root"], box["exposed"], box["hidden"], box["blocked"])
    else:
        os.chdir(config["workdir"])
    limit_resources(config["limits"])
    if box:
        jail.drop()


def is_root() -> bool:
    return os.geteuid() == 0


_probe_result: tuple[bool, list[str]] | None = None


def probe() -> tuple[bool, list[str]]:
    """Can this machine run the child in a root jail? Checked once per process, for real:
    start Python in the jail as the sandbox uid and compare its version with ours."""
    global _probe_result
    if _probe_result is not None:
        return _probe_result
    if not is_root():  # a laptop: rlimits only, as the README explains
        _probe_result = (False, [])
        return _probe_result
    import tempfile

    notes: list[str] = []
    work = Path(tempfile.mkdtemp(prefix="backprop-probe-"))
    root = tempfile.mkdtemp(prefix="backprop-root-")
    try:
        jail = Jail(work)
        jail.prepare()
        exposed, hide = jail.exposed(), []

        def enter():
            jail.enter(root, exposed, hide)
            jail.drop()

        code = ("import sys, os, numpy, socket\n"
                "s = socket.socket(); s.settimeout(0.2)\n"
                "try:\n    s.connect(('1.1.1.1', 53)); net = 'open'\n"
                "except OSError as e:\n    net = 'closed' if e.errno == 101 else 'open'\n"
                "print(sys.version, os.getuid(), net, sep='|')")
        result = subprocess.run([sys.executable, "-I", "-c", code], preexec_fn=enter,
                                capture_output=True, text=True, timeout=30,
                                env={"PATH": "/usr/bin:/bin", "HOME": str(work)})
        version, uid, net = (result.stdout.strip().split("|") + ["", "", ""])[:3]
        ok = result.returncode == 0 and version == sys.version and uid == str(SANDBOX_UID)
        if not ok:
            notes.append("could not confine the submission as root (" +
                         (result.stderr.strip().splitlines() or ["unknown error"])[-1] +
                         "): it runs with the grader's rights")
        elif net != "closed":
            notes.append("the kernel refused a private network namespace: the submission "
                         "has network access")
    except (OSError, subprocess.SubprocessError) as e:
        ok = False
        notes.append(f"could not confine the submission as root ({e}): it runs with the "
                     "grader's rights")
    finally:
        subprocess.run(["rm", "-rf", str(work)], check=False)
        os.rmdir(root)
    _probe_result = (ok, notes)
    return _probe_result


def _state(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return "X"
    return stat[stat.rfind(b")") + 2:][:1].decode()


def live_processes(uid: int) -> list[int]:
    """Processes of `uid` that are not zombies (a killed zombie is not alive)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            owner = os.stat(f"/proc/{pid}").st_uid
        except OSError:
            continue
        if owner == uid and _state(pid) not in ("Z", "X"):
            found.append(int(pid))
    return found


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


def children() -> set[int]:
    """Our child processes, zombies included (the kernel lists them per thread)."""
    found: set[int] = set()
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/children") as f:
                found.update(int(pid) for pid in f.read().split())
        except OSError:
            continue
    return found


def sweep(keep: set[int]) -> None:
    """Kill and reap every child process but `keep` (those we had before the run): what is
    left are escaped daemons re-parented to us as subreaper."""
    for _ in range(20):
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
