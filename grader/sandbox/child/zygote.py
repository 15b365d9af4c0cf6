"""A warm, clean process that forks the sandboxed children: Python and numpy start once.

Started fresh (`python -I -S zygote.py FD` from the harness folder) with the children's
scrubbed environment, it imports numpy and the child harness and nothing of the grader: no
exercise, no reference, no expected answer ever exists in it, so none can leak into a child.
For each session the grader sends the session's pipe ends (SCM_RIGHTS) and the child's
confinement as plain data; the zygote forks, and the child confines itself exactly as a freshly
spawned one would (jail, rlimits, uid) before it runs the harness. The zygote reports each
child's pid and exit status, and is the subreaper of whatever those children leave behind.

Messages on the SOCK_SEQPACKET socket are JSON: from the grader, a launch (with 4 fds:
request, result, stdout, stderr) or {"sweep": true}; from the zygote, {"ready": true},
{"pid": n}, {"exit": n, "status": returncode} and {"swept": count}.
"""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import socket
import sys

try:  # the harness imports numpy (see its top): once here, for every child
    from . import harness, jail, processes
except ImportError:  # run as a script from the harness folder (-I leaves it off the path)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import harness
    import jail
    import processes
    del sys.path[0]


def _run_child(config: dict, fds: list[int], keep_out: list[int]) -> None:
    """In the forked child: become a session of its own, wire up fds, confine, run."""
    request_fd, result_fd, out_fd, err_fd = fds

    def prepare() -> None:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        keep = {0, 1, 2, request_fd, result_fd}
        for fd in [int(n) for n in os.listdir("/proc/self/fd")] + keep_out:
            if fd not in keep:
                try:
                    os.close(fd)
                except OSError:
                    pass
        os.environ.clear()
        os.environ.update(config["env"])
        jail.confine(config)

    harness.serve_and_exit(request_fd, result_fd, prepare)


def serve(sock: socket.socket) -> None:
    processes.die_with_parent()  # a grader killed with SIGKILL takes its zygote along
    # Everything loaded so far (numpy, the harness) is shared with every child: kept out of
    # the collector's sight, a child's collections do not touch, and so copy, its pages.
    gc.freeze()
    processes.become_subreaper()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    launched: set[int] = set()

    def send(message: dict) -> None:
        sock.send(json.dumps(message).encode())

    send({"ready": True})
    while True:
        ready, _, _ = select.select([sock, wake_r], [], [])
        if wake_r in ready:
            os.read(wake_r, 4096)
        if sock in ready:
            data, fds, _, _ = socket.recv_fds(sock, 1 << 20, 4)
            if not data:
                break  # the grader is gone: so are we
            message = json.loads(data)
            if message.get("sweep"):
                strays = processes.children()
                processes.sweep(set())
                launched -= strays
                send({"swept": len(strays)})
                continue
            pid = os.fork()
            if pid == 0:
                _run_child(message, fds, [sock.fileno(), wake_r, wake_w])
            for fd in fds:
                os.close(fd)
            launched.add(pid)
            send({"pid": pid})
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid in launched:
                launched.discard(pid)
                send({"exit": pid, "status": os.waitstatus_to_exitcode(status)})
    processes.sweep(set())


if __name__ == "__main__":
    serve(socket.socket(fileno=int(sys.argv[1])))
    # Nothing left to flush or release: the grader waits for this exit (a `check` ends
    # only once its fork server has), and tearing down an interpreter that holds numpy
    # takes longer than everything the server did for a `check`.
    os._exit(0)
