"""Landlock (Linux >= 5.13) through its three system calls; standard library only, since it
runs in the sandboxed child.

`restrict(read, write)` leaves this process (and whatever it starts) able to read only
beneath the `read` paths and to write only beneath the `write` paths; from ABI 6 on it also
may not signal, nor reach the abstract unix sockets of, any process outside its domain.
Nothing may be unlinked or renamed over, even beneath `write`: a file unlinked while open
keeps its blocks in no folder, where the grader's disk count cannot see them.
"""

import ctypes
import os

SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446  # on every arch
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR, REMOVE_FILE = 1 << 0, 1 << 1, 1 << 2, 1 << 3, 1 << 5
TRUNCATE, IOCTL_DEV = 1 << 14, 1 << 15
FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV
READ_RIGHTS = EXECUTE | READ_FILE | READ_DIR
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1, 2


def _fs_rights(abi):
    """Every file-system right this ABI knows (all are handled, so all are denied unless
    a rule grants them)."""
    rights = (1 << 13) - 1  # ABI 1: execute ... make_sym
    if abi >= 2:
        rights |= 1 << 13  # refer
    if abi >= 3:
        rights |= TRUNCATE
    if abi >= 5:
        rights |= IOCTL_DEV
    return rights


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


try:
    _libc = ctypes.CDLL(None, use_errno=True)
    _libc.syscall.restype = ctypes.c_long
except (OSError, AttributeError, TypeError):  # Windows: no libc, no Landlock
    _libc = None


def _syscall(*args):
    if _libc is None:
        raise OSError("landlock: not on this system")
    result = _libc.syscall(*args)
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"landlock: {os.strerror(err)}")
    return result


def abi():
    """The Landlock ABI version of this kernel, 0 when there is none."""
    try:
        return max(_syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0),
                            ctypes.c_uint32(CREATE_RULESET_VERSION)), 0)
    except OSError:
        return 0


def restrict(read, write, devices=()):
    """Confine this process for good. Returns the ABI used; raises OSError on failure.
    `devices` are files (like /dev/null) that may be read and written."""
    version = abi()
    if version < 1:
        raise OSError("Landlock is not available in this kernel")
    handled = _fs_rights(version)
    scoped = SCOPE_SIGNAL | SCOPE_ABSTRACT_UNIX_SOCKET if version >= 6 else 0
    attr = _RulesetAttr(handled, 0, scoped)
    size = 24 if version >= 6 else 16 if version >= 4 else 8
    ruleset = _syscall(SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size),
                       ctypes.c_uint32(0))
    try:
        for paths, rights in ((read, READ_RIGHTS), (write, handled & ~REMOVE_FILE),
                              (devices, READ_FILE | WRITE_FILE | (handled & IOCTL_DEV))):
            for path in paths:
                _allow(ruleset, path, rights & handled)
        if _libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS, required first
            raise OSError(ctypes.get_errno(), "landlock: no_new_privs refused")
        _syscall(SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0))
    finally:
        os.close(ruleset)
    return version


def _allow(ruleset, path, rights):
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # gone or unreachable: nothing to allow
    try:
        if not os.path.isdir(path):
            rights &= FILE_RIGHTS  # directory rights on a file are refused
        rule = _PathBeneathAttr(rights, fd)
        _syscall(SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(RULE_PATH_BENEATH),
                 ctypes.byref(rule), ctypes.c_uint32(0))
    finally:
        os.close(fd)
