# An override of the solution whose first gate walks everything it can read, following
# every link, from the places an attacker would start (the test fills in START and
# FORBIDDEN). Any folder it can list or file it can open inside FORBIDDEN (the grader, the
# reference, the course, secrets, other students) raises "BREACH" with the paths found.
# The walk runs once per process: the grader calls the gate several times in one child,
# under the same confinement, and each walk would find the same.
import os

_solution_mul = mul_backward  # noqa: F821 (defined by the solution above)
SKIP = ("/proc", "/sys", "/dev")
_found_by_pid = {}


def _inside(path, folders):
    return any(path == f or path.startswith(f.rstrip("/") + "/") for f in folders)


def _readable(path):
    try:
        with open(path, "rb") as f:
            f.read(1)
        return True
    except OSError:
        return False


def _walk():
    found, seen = [], set()
    named = set(FORBIDDEN)
    stripped = {f.rstrip("/") for f in FORBIDDEN}
    # (path, its resolved path if already known): a folder entry that is not a link
    # resolves to its parent's resolved path and its name, without asking the system.
    stack = [(path, None) for path in START]
    while stack:
        path, real = stack.pop()
        if real is None:
            real = os.path.realpath(path)
        if real in seen or _inside(real, SKIP):
            continue
        seen.add(real)
        try:
            entries = list(os.scandir(path))
        except OSError:  # not a folder, or not listable: a file is read instead
            if _inside(real, FORBIDDEN) and _readable(path):
                found.append("read " + path)
            continue
        listed = _inside(real, FORBIDDEN)
        if listed:
            found.append("listed " + path)
        # A file here is inside FORBIDDEN when this folder is, or is itself named there.
        holds = listed or real in stripped
        for entry in entries:
            if entry.is_symlink():
                stack.append((entry.path, None))
            elif entry.is_dir(follow_symlinks=False):
                stack.append((entry.path, os.path.join(real, entry.name)))
            elif (holds or os.path.join(real, entry.name) in named) and \
                    _readable(entry.path):
                found.append("read " + entry.path)
    return found


def mul_backward(dout, x, y):
    pid = os.getpid()
    if pid not in _found_by_pid:
        _found_by_pid[pid] = _walk()
    found = _found_by_pid[pid]
    if found:
        raise RuntimeError("BREACH: " + "; ".join(sorted(found)[:8]))
    return _solution_mul(dout, x, y)
