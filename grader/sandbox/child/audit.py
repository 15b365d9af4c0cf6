"""What the submission tried, for the staff's audit trail (standard library only: it runs in
the child).

A Python audit hook (PEP 578), installed just before the submission is imported, notes the
kinds of things course staff want to hear about: signalling another process, starting
processes, touching files outside the work folder, using the network. It enforces nothing
(the sandbox does) and the code it watches could work around it; it is a trail, so that
the misbehaviour the sandbox stopped is not silent in the class summary.
"""

import os
import sys

KINDS = ("signal", "fork", "files", "network")
FORKS = frozenset({"os.fork", "os.forkpty", "os.posix_spawn", "os.spawn", "os.exec",
                   "os.system", "os.startfile", "subprocess.Popen", "pty.spawn"})
NETWORK = frozenset({"socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg",
                     "socket.getaddrinfo"})
WRITING = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
READABLE = ("/usr", "/lib", "/lib32", "/lib64", "/bin", "/dev/null", "/dev/zero",
            "/dev/urandom", "/dev/random", "/proc/self", "/sys/devices/system/cpu")


class Auditor:
    """The audit hook: `seen` collects the kinds of events, once each."""

    def __init__(self, workdir, readable):
        self.workdir = os.path.realpath(workdir)
        self.readable = tuple({*READABLE, self.workdir, *map(os.path.realpath, readable)})
        self.pid = os.getpid()
        self.seen = set()

    def __call__(self, event, args):
        if event == "open":
            self._open(*args[:3])
        elif event in ("os.kill", "os.killpg"):
            if event == "os.killpg" or args[0] != self.pid:
                self.seen.add("signal")
        elif event in FORKS:
            self.seen.add("fork")
        elif event in NETWORK:
            self.seen.add("network")

    def _open(self, path, mode, flags):
        if not isinstance(path, (str, bytes, os.PathLike)):
            return  # an open file descriptor
        try:
            path = os.path.abspath(os.fsdecode(path))
        except (TypeError, ValueError):
            return
        writes = any(c in (mode or "") for c in "wax+") or bool((flags or 0) & WRITING)
        inside = path == self.workdir or path.startswith(self.workdir + os.sep)
        if inside or path == "/dev/null":
            return
        if writes or not any(path == r or path.startswith(r + os.sep) for r in self.readable):
            self.seen.add("files")

    def report(self):
        return sorted(self.seen)


def install(readable):
    """Watch this process from now on; returns the auditor to ask what it saw."""
    auditor = Auditor(os.getcwd(), readable)
    sys.addaudithook(auditor)
    return auditor
