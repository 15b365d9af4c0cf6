# An override of the solution whose first gate walks everything it can read, following
# every link, from the places an attacker would start (the test fills in START and
# FORBIDDEN). Any folder it can list or file it can open inside FORBIDDEN (the grader, the
# reference, the course, secrets, other students) raises "BREACH" with the paths found.
import os

_solution_mul = mul_backward  # noqa: F821 (defined by the solution above)
SKIP = ("/proc", "/sys", "/dev")


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
    found, seen, stack = [], set(), list(START)
    while stack:
        path = stack.pop()
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
        if _inside(real, FORBIDDEN):
            found.append("listed " + path)
        for entry in entries:
            if entry.is_symlink() or entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            elif _inside(os.path.join(real, entry.name), FORBIDDEN) and \
                    _readable(entry.path):
                found.append("read " + entry.path)
    return found


def mul_backward(dout, x, y):
    found = _walk()
    if found:
        raise RuntimeError("BREACH: " + "; ".join(sorted(found)[:8]))
    return _solution_mul(dout, x, y)
