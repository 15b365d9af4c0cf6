"""A small ctypes binding to libseccomp (the library behind Docker's and systemd's
filters), and the child's filter; standard library only, since it runs in the child.

libseccomp resolves system call names per architecture and compiles the BPF program, so
nothing here hand-assembles BPF. Where the library is absent (macOS, Windows, minimal
images) `available()` is False and the report says the layer is missing.
"""

import ctypes
import errno
import os

ACT_ALLOW = 0x7FFF0000
CMP_NE, CMP_MASKED_EQ = 1, 7
NAMESPACE_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000,
                   0x40000000)  # CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET

# Never needed to compute a gradient; each one is a way out or a way at other processes.
DENIED = ("ptrace", "process_vm_readv", "process_vm_writev", "keyctl", "add_key",
          "request_key", "bpf", "perf_event_open", "userfaultfd", "mount", "umount2",
          "pivot_root", "chroot", "unshare", "setns", "swapon", "swapoff", "reboot",
          "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
          "open_by_handle_at", "name_to_handle_at", "iopl", "ioperm", "acct", "quotactl",
          "settimeofday", "clock_settime", "adjtimex", "syslog", "fanotify_init",
          "inotify_init", "inotify_init1", "io_uring_setup", "io_uring_enter",
          "io_uring_register", "personality", "mount_setattr", "fsopen", "fsmount",
          "move_mount", "open_tree")
SYSV_IPC = ("shmget", "msgget", "semget")
# Memory no limit sees: memfd pages are in no process's RSS and under no RLIMIT_AS.
HIDDEN_MEMORY = ("memfd_create", "memfd_secret")
# Changes to files' owners, modes, times and attributes: never needed for a gradient, and
# in the user tier a way to open the TA's files to others (or to hide a folder from the
# grader's own count).
ATTRIBUTES = ("chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown",
              "fchownat", "utime", "utimes", "futimesat", "utimensat", "setxattr",
              "lsetxattr", "fsetxattr", "setxattrat", "removexattr", "lremovexattr",
              "fremovexattr", "removexattrat")
# Calls that reach another process of the same uid through a pid argument (0 is the
# caller): in the user tier that is every process of the TA's, the grader included, whose
# limits, priority and CPUs the submission could otherwise change (a grader whose memory
# limit drops to 50 MiB crashes; one whose hard limits drop cannot confine a fresh child).
OTHER_PROCESS = (("prlimit64", 0), ("setpriority", 1), ("sched_setscheduler", 0),
                 ("sched_setparam", 0), ("sched_setaffinity", 0), ("sched_setattr", 0),
                 ("ioprio_set", 1), ("migrate_pages", 0), ("move_pages", 0))
O_TMPFILE = 0o20000000  # a file with no name: its blocks are in no folder's count
OPEN_FLAGS = (("open", 1), ("openat", 2))  # the system call and its flags argument
SIGNALS = ("kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo")  # first arg: a pid
PID_HANDLES = ("tkill", "pidfd_open", "pidfd_send_signal", "pidfd_getfd")


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


def _library():
    # The soname first: the loader finds it at once, where find_library runs `ldconfig
    # -p` in a subprocess (tens of milliseconds, in every grader and fork server start).
    try:
        lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    except OSError:
        from ctypes.util import find_library

        try:
            lib = ctypes.CDLL(find_library("seccomp") or "libseccomp.so.2",
                              use_errno=True)
        except OSError:
            return None
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                           ctypes.c_uint, ctypes.POINTER(_ArgCmp)]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    return lib


_lib = _library()


def available():
    return _lib is not None


def errno_action(code):
    return 0x00050000 | (code & 0xFFFF)


class Filter:
    """Rules on top of a default action; `load()` installs them on this process for good.
    It sets no_new_privs, as an unprivileged process must; only a process holding
    CAP_SYS_ADMIN may ask for `no_new_privs=False`."""

    def __init__(self, default=ACT_ALLOW, no_new_privs=True):
        if _lib is None:
            raise OSError("libseccomp is not installed")
        self.ctx = _lib.seccomp_init(default)
        if not self.ctx:
            raise OSError("seccomp_init failed")
        _lib.seccomp_attr_set(self.ctx, 3, int(no_new_privs))  # SCMP_FLTATR_CTL_NNP

    def add(self, action, name, *conditions):
        """Apply `action` to system call `name` when every (arg, op, a[, b]) condition
        holds. Unknown names (another architecture, an old library) are skipped."""
        number = _lib.seccomp_syscall_resolve_name(name.encode())
        if number < 0:
            return False
        array = (_ArgCmp * max(len(conditions), 1))(
            *[_ArgCmp(c[0], c[1], c[2], c[3] if len(c) > 3 else 0) for c in conditions])
        rc = _lib.seccomp_rule_add_array(self.ctx, action, number, len(conditions), array)
        if rc < 0:
            raise OSError(-rc, f"seccomp rule for {name}: {os.strerror(-rc)}")
        return True

    def load(self):
        try:
            rc = _lib.seccomp_load(self.ctx)
            if rc < 0:
                raise OSError(-rc, f"seccomp_load: {os.strerror(-rc)}")
        finally:
            _lib.seccomp_release(self.ctx)


def child_filter(signals_outside=True, pid=None):
    """The sandboxed child's filter: no sockets at all (no network, no connect() to the
    TA's unix sockets; socketpair stays), none of `DENIED`, no new namespaces, no SysV
    IPC (its objects outlive the run), no memfd, no attribute changes, no nameless files,
    no changing another process's limits, priority or CPUs (`OTHER_PROCESS`);
    without `signals_outside`, signals only to `pid` itself (where nothing else keeps
    them in, e.g. Landlock's signal scope)."""
    f = Filter()
    eperm = errno_action(errno.EPERM)
    f.add(errno_action(errno.EACCES), "socket")
    for name in DENIED + HIDDEN_MEMORY + ATTRIBUTES:
        f.add(eperm, name)
    for name, flags in OPEN_FLAGS:
        f.add(errno_action(errno.EOPNOTSUPP), name, (flags, CMP_MASKED_EQ, O_TMPFILE, O_TMPFILE))
    f.add(errno_action(errno.ENOSYS), "openat2")  # its flags are out of a filter's reach
    for name, pid_arg in OTHER_PROCESS:
        f.add(eperm, name, (pid_arg, CMP_NE, 0))
    f.add(errno_action(errno.ENOSYS), "clone3")  # libc falls back to clone, filtered below
    for flag in NAMESPACE_FLAGS:
        f.add(eperm, "clone", (0, CMP_MASKED_EQ, flag, flag))
    for name in SYSV_IPC:
        f.add(eperm, name)
    if not signals_outside:
        for name in SIGNALS:
            f.add(eperm, name, (0, CMP_NE, pid if pid is not None else os.getpid()))
        for name in PID_HANDLES:
            f.add(eperm, name)
    return f
