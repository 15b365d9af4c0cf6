# Overrides of the solution: every gate first tries a way past the run's limits or at the
# TA, then answers correctly. One that works raises "BREACH" (the gate loses its points);
# what it could leave behind (processes, modes) is checked by the test afterwards.
# The test fills in the names in capitals.
import ctypes
import os
import signal
import socket
import time

_solution = {name: globals()[name] for name in ("mul_backward", "add_backward",
             "exp_backward", "scale_backward", "offset_backward", "sigmoid_backward")}
_libc = ctypes.CDLL(None, use_errno=True)


def _memfd():
    """Memory in no process's RSS and under no RLIMIT_AS."""
    fd = _libc.memfd_create(b"hoard", 0)
    if fd >= 0:
        raise RuntimeError("BREACH: memfd_create worked")


def _unlinked_file():
    """Disk blocks in no folder: files unlinked while open (more of them than the work
    folder may hold), or a file made with no name."""
    held, chunk = [], b"x" * (256 << 10)
    try:
        while sum(os.fstat(f.fileno()).st_blocks * 512 for f in held) <= DISK_BYTES:
            f = open(f"hoard{len(held)}.bin", "wb")
            held.append(f)
            os.unlink(f.name)
            for _ in range(3):
                f.write(chunk)
                f.flush()
    except OSError:
        pass
    else:
        raise RuntimeError("BREACH: held more unlinked bytes than the work folder may")
    finally:
        for f in held:
            try:
                f.close()
            except OSError:
                pass
    try:
        fd = os.open(".", os.O_TMPFILE | os.O_WRONLY, 0o600)
    except OSError:
        return
    os.close(fd)
    raise RuntimeError("BREACH: made a nameless file")


def _change_modes():
    """Open the TA's files to others, or hide a folder from the grader."""
    for path in (TA_FILE, "."):
        for change in (lambda p: os.chmod(p, 0o777), lambda p: os.utime(p, (0, 0)),
                       lambda p: os.setxattr(p, b"user.backprop", b"x")):
            try:
                change(path)
            except OSError:
                continue
            raise RuntimeError(f"BREACH: changed the attributes of {path}")


def _unix_socket():
    """The TA's agents and buses listen on pathname unix sockets."""
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(SOCKET_PATH)
            s.sendall(b"sign this")
    except OSError:
        return
    raise RuntimeError("BREACH: connected to " + SOCKET_PATH)


def _other_processes():
    """Lower the grader's limits (it crashes, or cannot confine a fresh child), or change
    its priority and CPUs: the same uid is all the kernel asks for."""
    import resource
    parent = os.getppid()
    for attempt in (
            lambda: resource.prlimit(parent, resource.RLIMIT_AS, (50 << 20, 50 << 20)),
            lambda: resource.prlimit(parent, resource.RLIMIT_FSIZE, (1 << 20, 1 << 20)),
            lambda: os.setpriority(os.PRIO_PROCESS, parent, 19),
            lambda: os.sched_setaffinity(parent, {0}),
            lambda: os.sched_setscheduler(parent, os.SCHED_IDLE, os.sched_param(0))):
        try:
            attempt()
        except OSError:
            continue
        raise RuntimeError("BREACH: changed the grader's limits or scheduling")


def _hopper():
    """A daemon that changes its pid faster than a sweep can follow, deaf to signals it
    may ignore and to its parent's death."""
    try:
        if os.fork() != 0:
            return
    except OSError:  # the process limit stopped it: fair
        return
    _libc.prctl(15, MARKER.encode(), 0, 0, 0)  # PR_SET_NAME: how the test finds it
    _libc.prctl(1, 0, 0, 0, 0)  # PR_SET_PDEATHSIG off
    os.setsid()
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    while True:
        try:
            if os.fork() != 0:
                os._exit(0)
        except OSError:
            time.sleep(0.001)


def _attacked(name, attack):
    def gate(*args):
        attack()
        return _solution[name](*args)
    return gate


mul_backward = _attacked("mul_backward", _memfd)
add_backward = _attacked("add_backward", _unlinked_file)
exp_backward = _attacked("exp_backward", _change_modes)
scale_backward = _attacked("scale_backward", _unix_socket)
offset_backward = _attacked("offset_backward", _other_processes)
sigmoid_backward = _attacked("sigmoid_backward", _hopper)
