"""The confinement ladder: the strongest sandbox this environment allows, chosen once per
grader process, and the plan each child carries out.

| tier       | where                                 | the child runs ...                       |
|------------|---------------------------------------|------------------------------------------|
| full       | root with CAP_SYS_ADMIN (CI, servers) | in mount/network/IPC namespaces, chroot, |
|            |                                       | capped tmpfs work folder, own uid,       |
|            |                                       | seccomp                                  |
| container  | root without it (a default Docker     | as its own uid, Landlock, seccomp        |
|            | container: Gradescope, PrairieLearn)  |                                          |
| user       | not root, Linux (laptop, TA account)  | Landlock, user namespaces, seccomp       |
| unconfined | macOS, Windows, or none of the above  | a plain process with rlimits: advisory   |

The probe is cheap (a few forks that try a namespace), and every layer it promises is
verified by the child itself: a layer that fails there stops the run before any student
code executes (`lockdown.py`), so a wrong probe can cost a run, never its protection.
`BACKPROP_CONFINEMENT=<tier>` asks for a weaker tier (tests, debugging); never a stronger one.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import site
import sys
import sysconfig
import tempfile
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

from grader.sandbox import folders, uids
from grader.sandbox.child import landlock, seccomp
from grader.sandbox.child.jail import CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWUSER

ORDER = ("unconfined", "user", "container", "full")
DESCRIPTION = {
    "full": "root jail: private mount, network and IPC namespaces, a minimal read-only tree, "
            "a capped work folder, its own uid",
    "container": "its own unprivileged uid, files readable only where Python needs them",
    "user": "your own user, files readable only where Python needs them, writable only in "
            "its work folder",
    "unconfined": "a separate process with resource limits only: it can read and write what "
                  "you can, so this check is advisory",
}
CAP_CHOWN, CAP_SETGID, CAP_SETUID, CAP_SYS_ADMIN = 0, 6, 7, 21
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")


class ConfinementError(RuntimeError):
    """The grader could not protect this run; it refuses to grade rather than run the
    submission unprotected. Never the student's fault."""


@dataclass(frozen=True)
class Tier:
    """What this environment allows; the layers actually in force for a run are named by
    its plan and by the child (`runner.run_submission` reports them)."""

    name: str
    missing: tuple[str, ...] = ()  # what this environment lacks, said in every report
    landlock_abi: int = 0
    userns: bool = False
    seccomp: bool = False

    @property
    def drops_root(self) -> bool:
        """Does student code run as some other uid than a root grader's?"""
        return self.name in ("full", "container")

    @property
    def portable(self) -> bool:
        """Is the child started as a plain subprocess, with no pass_fds, preexec_fn or
        fork server (what Windows and macOS allow)? The unconfined tier always is, on Linux
        too, so that forcing it there tests the very path laptops take."""
        return self.name == "unconfined"

    def shortfall(self) -> list[str]:
        """What this environment lacks for a grade that counts: every layer the tier
        promises (`DESCRIPTION`), and never student code running as a root grader."""
        if self.name == "unconfined":
            return list(self.missing) or ["confinement"]
        lacks = ["Landlock"] * (self.name in ("container", "user") and not self.landlock_abi)
        lacks += ["seccomp"] * (not self.seccomp)
        if _is_root() and not self.drops_root:
            lacks.append("a uid to run the submission as (it would run as root)")
        return lacks

    def describe(self) -> dict:
        lacks = self.shortfall()
        return {"tier": self.name, "description": DESCRIPTION[self.name],
                "missing": list(self.missing), "advisory": bool(lacks), "lacks": lacks}


def _is_root() -> bool:
    return os.name == "posix" and os.geteuid() == 0


def _capabilities() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except OSError:
        pass
    return 0


def _open_to_others(folder: str) -> bool:
    """Can any user list `folder` and pass through every folder above it?"""
    path = Path(os.path.realpath(folder))
    try:
        if not path.stat().st_mode & 0o005 == 0o005:
            return False
        return all(parent.stat().st_mode & 0o001 for parent in path.parents)
    except OSError:
        return False


def _forked_ok(*flag_sets: int) -> bool:
    """Can a child process unshare these namespaces, one set after the other?"""
    import ctypes

    pid = os.fork()
    if pid == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        os._exit(0 if all(libc.unshare(flags) == 0 for flags in flag_sets) else 1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def _probe() -> Tier:
    if sys.platform != "linux":
        return Tier("unconfined", (f"isolation on {sys.platform}",))
    abi, has_seccomp = landlock.abi(), seccomp.available()
    lacking = ("Landlock",) * (not abi) + ("seccomp",) * (not has_seccomp)
    if os.geteuid() == 0:
        caps = _capabilities()
        has = lambda *bits: all(caps >> b & 1 for b in bits)  # noqa: E731
        if has(CAP_SYS_ADMIN) and _forked_ok(CLONE_NEWNS | CLONE_NEWIPC, CLONE_NEWNET):
            return Tier("full", ("seccomp",) * (not has_seccomp), abi, seccomp=has_seccomp)
        if has(CAP_SETUID, CAP_SETGID, CAP_CHOWN):
            closed = () if _open_to_others(sysconfig.get_paths()["stdlib"]) else (
                "a Python the sandbox uid can read (this one is in a folder closed to other "
                "users: modules the grader has not loaded cannot be imported)",)
            return Tier("container", ("namespaces (no CAP_SYS_ADMIN)",) + lacking + closed,
                        abi, seccomp=has_seccomp)
        return Tier("unconfined", ("a uid to drop to (no CAP_SETUID)",))
    userns = _forked_ok(CLONE_NEWUSER, CLONE_NEWNET | CLONE_NEWIPC)
    if abi or has_seccomp:
        return Tier("user", lacking + ("user namespaces",) * (not userns), abi, userns,
                    has_seccomp)
    return Tier("unconfined", ("Landlock", "seccomp", "namespaces"))


_current: tuple[int, Tier] | None = None


def current() -> Tier:
    """This process's tier (probed once per process; a forked worker probes again)."""
    global _current
    if _current is None or _current[0] != os.getpid():
        tier = _probe()
        wanted = os.environ.get("BACKPROP_CONFINEMENT")
        if wanted in ORDER and ORDER.index(wanted) < ORDER.index(tier.name):
            tier = replace(tier, name=wanted, userns=False,
                           seccomp=tier.seccomp and wanted != "unconfined",
                           missing=(f"what a stronger tier gives (BACKPROP_CONFINEMENT="
                                    f"{wanted})",))
        _current = (os.getpid(), tier)
    return _current[1]


def require_protection(allow_unconfined: bool = False) -> Tier:
    """For grades that count (batch, Gradescope, PrairieLearn), as root or not: refuse
    unless every layer the tier promises can be put in place. `allow_unconfined` (staff,
    explicit) grades all the same; every report of such a run then says it is advisory."""
    tier = current()
    lacks = tier.shortfall()
    if lacks and not allow_unconfined:
        raise ConfinementError(
            f"the sandbox here ({tier.name} tier) lacks " + ", ".join(lacks) + ", so the "
            "grader refuses to grade: a submission could read the answers or change other "
            "grades. Grade where the sandbox is complete (see the README's sandbox table), "
            "or pass --allow-unconfined to grade anyway, every result marked advisory")
    return tier


# ---- what the child may see ---------------------------------------------------------------


TEMP_NAME = re.compile(r"^backprop-(?:harness|root|work|batch)-(\d+)-")


def temp_folder(kind: str) -> str:
    """A new temporary folder named with its owner's pid (`backprop-<kind>-<pid>-...`). The
    first one a process makes sweeps those left by graders that died (killed, so no
    cleanup ran), so that /tmp does not fill up run after run."""
    if _swept.get(os.getpid()) is None:
        _swept[os.getpid()] = _sweep_stale(Path(tempfile.gettempdir()))
    return tempfile.mkdtemp(prefix=f"backprop-{kind}-{os.getpid()}-")


_swept: dict[int, int] = {}


def _ours(owner: int) -> bool:
    """Made by a grader of this user (as root: also a work folder handed to a sandbox uid)."""
    return owner == os.geteuid() or (os.geteuid() == 0 and
                                     uids.POOL_BASE <= owner < uids.POOL_BASE + uids.POOL_SIZE)


def _sweep_stale(folder: Path) -> int:
    """Remove our own temporary folders whose owner process is gone; how many."""
    removed = 0
    for entry in os.scandir(folder):
        match = TEMP_NAME.match(entry.name)
        try:
            if not match or not entry.is_dir(follow_symlinks=False) or \
                    not _ours(entry.stat(follow_symlinks=False).st_uid):
                continue
            os.kill(int(match.group(1)), 0)
            continue  # its grader is alive (or its pid was reused): leave it
        except ProcessLookupError:
            pass
        except OSError:
            continue
        folders.remove(entry.path)
        removed += 1
    return removed


@lru_cache(maxsize=1)
def harness_dir() -> str:
    """A private, read-only copy of the child side (`child/`), made once per process:
    outside every work folder, so a submission can neither replace nor edit it."""
    folder = temp_folder("harness")
    for path in (Path(__file__).parent / "child").glob("*.py"):
        if path.name != "__init__.py":
            shutil.copyfile(path, os.path.join(folder, path.name))
            os.chmod(os.path.join(folder, path.name), 0o444)
    os.chmod(folder, 0o555)
    atexit.register(_remove_harness, folder, os.getpid())
    return folder


def _remove_harness(folder: str, owner: int) -> None:
    if os.getpid() == owner:  # not in forked children that inherit the handler
        folders.remove(folder)


def private_paths() -> list[Path]:
    """The grader's own files: package, reference and course content — every copy on the
    path (a checkout and an installed copy may both exist, as in CI). Found once per
    path and working folder (every submission's run asks; the search globs each entry)."""
    return list(_private_paths(tuple(sys.path), os.getcwd()))


@lru_cache(maxsize=8)
def _private_paths(path: tuple[str, ...], cwd: str) -> tuple[Path, ...]:
    here = Path(__file__).resolve().parents[1]
    found = {here, here.parent / "exercises", here.parent / "reference"}
    for entry in {*path, *site.getsitepackages()}:
        for name in ("grader", "reference"):
            package = Path(entry or ".") / name
            if (package / "__init__.py").is_file():
                found.add(package.resolve())
        # The install's RECORD lists every file of the grader with its hash.
        found.update(p.resolve() for p in Path(entry or ".").glob("backprop_grader-*-info"))
    return tuple(sorted(found))


def _python_dirs() -> set[str]:
    """The interpreter, its standard library and numpy: what the child needs."""
    import numpy

    numpy_dir = Path(numpy.__file__).parent
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, str(numpy_dir),
             str(numpy_dir.parent / "numpy.libs")}
    return {q for p in paths for q in (str(p), os.path.realpath(p)) if os.path.lexists(q)}


def _package_dirs() -> set[str]:
    """Every site-packages folder: their contents stay out, numpy aside."""
    found = set(site.getsitepackages()) | {site.getusersitepackages()}
    found |= {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
    return {q for p in found for q in (p, os.path.realpath(p))}


def exposed() -> list[str]:
    """System and Python directories to bind read-only in the jail, outermost first."""
    kept: list[str] = []
    for p in sorted(set(SYSTEM_DIRS) | _python_dirs() | {harness_dir()}, key=len):
        if os.path.lexists(p) and not _beneath(p, set(kept)):
            kept.append(p)
    return kept


def readable(hidden: list[str]) -> list[str]:
    """The Landlock read allow-list: system and Python folders, minus every hidden path
    inside them (site-packages but numpy, the grader's own files, `hidden`). Landlock
    cannot deny beneath an allowed folder, so a folder holding a hidden path is replaced
    by its entries, recursively. Every entry is resolved first: a rule on a link grants
    its target (`lib64 -> lib` in a venv, `/lib -> usr/lib`), so a link is judged, and
    expanded, as the folder it leads to; one leading outside the roots is left out."""
    secret = {os.path.realpath(p) for p in [*hidden, *_package_dirs(),
                                             *map(str, private_paths())]}
    roots = {os.path.realpath(p) for p in [*SYSTEM_DIRS, *_python_dirs(), harness_dir()]}
    allowed: list[str] = []
    seen: set[str] = set()

    def add(path: str) -> None:
        path = os.path.realpath(path)
        if path in seen or path in secret or not _beneath(path, roots):
            return
        seen.add(path)
        if not any(_beneath(s, {path}) for s in secret):
            allowed.append(path)
            return
        try:
            entries = os.listdir(path)
        except OSError:
            return
        for name in entries:
            add(os.path.join(path, name))

    for root in sorted(roots):
        if os.path.exists(root):
            add(root)
    return allowed


def _beneath(path: str, folders: set[str]) -> bool:
    """Is `path` one of `folders` or inside one (all resolved)?"""
    return any(path == f or path.startswith(f.rstrip("/") + "/") for f in folders)


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


@dataclass
class Plan:
    """How one submission's children start: `config` is applied before exec (rlimits, the
    full tier's jail), `lockdown` by the harness after it (`child/lockdown.py`)."""

    tier: Tier
    uid: int | None
    config: dict
    lockdown: dict
    roots: list[str] = field(default_factory=list)  # jail roots to remove afterwards
    layers: list[str] = field(default_factory=list)  # put in place before exec


def plan(workdir: Path, limits: dict, hidden: list[str], forbidden: list[str]) -> Plan:
    tier = current()
    uid = uids.claim() if tier.drops_root else None
    config: dict = {"limits": limits, "jail": None, "workdir": str(workdir)}
    lockdown: dict = {"version": sys.version}
    roots: list[str] = []
    layers = [] if tier.portable else ["resource limits"]
    if tier.portable:
        lockdown["rlimits"] = limits  # set by the harness itself: no preexec_fn
    if uid is not None:
        _hand_over(workdir, uid)
    if tier.name == "full":
        root = temp_folder("root")
        roots.append(root)
        shown = exposed()
        private = [p for p in map(str, private_paths() + [Path(h) for h in hidden])
                   if not any(e.startswith(p.rstrip("/") + "/") for e in shown)]
        config["jail"] = {"workdir": str(workdir), "uid": uid, "root": root, "exposed": shown,
                          "hidden": private, "blocked": _module_locations(forbidden)}
        layers += ["mount, network and IPC namespaces", "chroot", f"uid {uid}"]
    elif tier.name in ("container", "user"):
        if tier.landlock_abi:
            lockdown["landlock"] = {"read": _cached_readable(tuple(hidden)),
                                    "write": [str(workdir)], "devices": list(DEVICES)}
        lockdown["uid"] = uid
        lockdown["userns"] = tier.userns
    if tier.seccomp:
        # Signals stay in: by uid (full, container) or by Landlock's scope (ABI >= 6).
        lockdown["seccomp"] = {"signals": tier.drops_root or tier.landlock_abi >= 6}
    return Plan(tier, uid, config, lockdown, roots, layers)


@lru_cache(maxsize=8)
def _cached_readable(hidden: tuple[str, ...]) -> list[str]:
    return readable(list(hidden))


def _hand_over(workdir: Path, uid: int) -> None:
    """Give the work folder to the sandbox uid (the harness folder stays the grader's),
    links as links."""
    for at, entries in folders.walk(workdir):
        os.chown(at, uid, uid)  # the folder itself, through its descriptor
        for entry in entries:
            os.chown(entry.path, uid, uid, dir_fd=at, follow_symlinks=False)
    os.chmod(workdir, 0o700)
