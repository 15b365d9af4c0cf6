"""What a child does to itself between fork and exec (or, in the fork server, before the
harness runs): resource limits, and in the full tier the root jail.

The full tier (root with CAP_SYS_ADMIN) starts the child in private mount, network and IPC
namespaces, chrooted into a minimal tree built from read-only binds of the system and of
the Python installation, a size-capped tmpfs as its work folder, a fresh /tmp and /dev/shm,
and /proc showing only its own processes. The grader's files and any path the plan names
are covered by empty tmpfs mounts. Then it drops to its grader's sandbox uid.
Standard library only: it runs in the child.
"""

import ctypes
import os
import shutil

try:
    import resource
except ImportError:  # Windows: the portable path has no rlimits
    resource = None

CLONE_NEWNS, CLONE_NEWNET, CLONE_NEWIPC = 0x00020000, 0x40000000, 0x08000000
CLONE_NEWUSER = 0x10000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
PR_SET_NO_NEW_PRIVS = 38


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _check(result, what):
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source, target, fstype, flags, data=None):
    enc = (lambda s: s.encode() if s is not None else None)
    _check(_libc().mount(enc(source), enc(target), enc(fstype), flags, enc(data)),
           f"mount {target}")


def _tmpfs(target, mode, size, flags=MS_NOSUID | MS_NODEV, inodes=None):
    os.makedirs(target, exist_ok=True)
    extra = f",nr_inodes={inodes}" if inodes else ""
    _mount("tmpfs", target, "tmpfs", flags, f"mode={mode},size={size}{extra}")


def _block_module(target, module):
    """Replace a package folder (or module file) by one whose import fails clearly."""
    if os.path.isdir(target):
        _tmpfs(target, "0755", "16k")
        target = os.path.join(target, "__init__.py")
    elif os.path.isfile(target):
        _tmpfs(os.path.dirname(target), "0755", "16k")  # holds nothing else we need
    else:
        return
    with open(target, "w") as f:
        f.write(f"raise ImportError({module + ' is forbidden in this course'!r}, "
                f"name={module!r})\n")
    _mount(None, os.path.dirname(target), None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def enter(box, limits):
    """Runs in the forked child as root: namespaces, the tree, chroot, the work folder."""
    libc = _libc()
    _check(libc.unshare(CLONE_NEWNS | CLONE_NEWIPC), "unshare(mount, IPC namespaces)")
    _check(libc.unshare(CLONE_NEWNET), "unshare(network namespace)")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    root, workdir, uid = box["root"], box["workdir"], box["uid"]
    _tmpfs(root, "0755", "1m")
    # A fresh /tmp first: Python or the work folder may live below /tmp.
    _tmpfs(root + "/tmp", "1777", "16m", inodes=4096)
    for path in box["exposed"]:
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
    _tmpfs(root + "/dev/shm", "1777", "4m", inodes=256)  # not the host's
    os.makedirs(root + "/proc", exist_ok=True)  # hidepid: only the sandbox's own processes
    _mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2")
    # The work folder: a copy of the submission on a tmpfs capped in bytes and files.
    work = root + workdir
    _tmpfs(work, "0700", str(limits["disk_bytes"]), inodes=limits["files"])
    for name in os.listdir(workdir):
        source = os.path.join(workdir, name)
        if os.path.isfile(source) and not os.path.islink(source):
            shutil.copyfile(source, os.path.join(work, name))
            os.chown(os.path.join(work, name), uid, uid)
    os.chown(work, uid, uid)
    for path in box["hidden"]:
        if os.path.isdir(root + path):
            _mount("tmpfs", root + path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV,
                   "mode=0000,size=4k")
    for path, module in box["blocked"].items():
        _block_module(root + path, module)
    os.chroot(root)
    os.chdir(workdir)


def drop(uid):
    """Become the sandbox uid for good (after rlimits, which need no privilege)."""
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    _libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


def limit_resources(limits):
    """Cap what the student's code can take (in the child, before it runs)."""
    if resource is None:
        return
    cpu = int(limits["total_seconds"]) + 5
    for res, soft, hard in ((resource.RLIMIT_AS, limits["memory_bytes"], None),
                            (resource.RLIMIT_FSIZE, limits["file_bytes"], None),
                            (resource.RLIMIT_NOFILE, limits["open_files"], None),
                            (resource.RLIMIT_CORE, 0, None),
                            (resource.RLIMIT_NPROC, limits["processes"], None),
                            (resource.RLIMIT_CPU, cpu, cpu + 1)):
        resource.setrlimit(res, _within_hard(res, soft, soft if hard is None else hard))


def _within_hard(res, soft, hard):
    """A limit already stricter than ours (set by whoever started us) stays: lowering is
    all a process may do, and the stricter one protects as well."""
    current = resource.getrlimit(res)[1]
    if current == resource.RLIM_INFINITY:
        return soft, hard
    return min(soft, current), min(hard, current)


def confine(config):
    """Everything a child does to itself before exec, in this order: enter the jail (full
    tier), cap resources, drop to the sandbox uid for good (full tier). The other tiers'
    layers are put in place after exec, by the harness (lockdown.py)."""
    box = config.get("jail")
    if box:
        enter(box, config["limits"])
    else:
        os.chdir(config["workdir"])
    limit_resources(config["limits"])
    if box:
        drop(box["uid"])
