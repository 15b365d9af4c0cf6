"""The sandboxed child: import the submission, call its functions, send raw outputs back.

Run as `python -I -S harness.py REQUEST_FD RESULT_FD` from the grader's harness folder (a
copy of this `child` package that the sandbox can read), as `harness.py --portable` with
the request on stdin and results on stdout (macOS, Windows), or forked by `zygote.py`. It never
sees an expected answer and decides nothing: it confines itself as the request's plan says
(`lockdown.py`), reports the layers in force before any student code runs, then reports what
each student function returned (or raised), as numeric arrays, and the parent judges.
Everything after the import may be tampered with by the student code it runs; that can only
change what the student's own functions appear to return.
"""

import __future__
import ast
import contextlib
import faulthandler
import io
import importlib.util
import os
import sys
import threading
import time
import traceback
import warnings

if sys.flags.no_site and "BACKPROP_NUMPY_PATH" in os.environ:
    # Started as `python -I -S` (the grader's `forkserver.child_command`): no .pth file of
    # the environment ran. numpy's folder is the grader's to name; exit(), quit() and
    # help() are the builtins `site` would have given.
    sys.path.append(os.environ["BACKPROP_NUMPY_PATH"])
    import site
    site.setquit()
    site.setcopyright()
    site.sethelper()

import numpy as np  # imported before any student code, like wire
import numpy.random  # noqa: F401  (dropout and weight init use it: loaded before the import,
# numpy's namespace is the same in every child, however it was started: see state.py)

try:
    from . import audit, lockdown, processes, state, wire
except ImportError:  # run as a script from the harness folder (-I leaves it off the path)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import audit
    import lockdown
    import processes
    import state
    import wire
    del sys.path[0]


def requests(fd):
    """The grader's frames on the request pipe, (header, arrays) each, as they arrive: the
    setup first (how to confine, what to import), then the calls, an exercise's at a time,
    until the grader closes the pipe. The grader plans meanwhile: the import overlaps it."""
    head = len(wire.MAGIC) + wire.NONCE_BYTES
    pending, reader = b"", None
    while chunk := os.read(fd, 1 << 16):
        if reader is None:
            pending += chunk
            if len(pending) < head:
                continue
            # The request comes from the grader itself: only memory bounds it.
            reader = wire.FrameReader(pending[len(wire.MAGIC):head], max_frame_bytes=1 << 62,
                                      max_blobs=1 << 62)
            chunk = pending
        for header, blobs in reader.feed(chunk):
            yield reader.nonce, header, [wire.decode_array(b, len(b)) for b in blobs]


class Sender:
    """Writes frames to the result pipe, from the harness's own process only."""

    def __init__(self, fd, nonce):
        self.fd, self.nonce, self.pid = fd, nonce, os.getpid()

    def send(self, header, arrays=()):
        if os.getpid() != self.pid:
            # A fork made by the student's code has returned into the harness: it speaks
            # for nobody, and its frames would be taken for the next calls' answers.
            os._exit(0)
        frame = wire.encode_frame(self.nonce, header, [wire.encode_array(a) for a in arrays])
        view = memoryview(frame)
        while view:
            view = view[os.write(self.fd, view):]


# The grader's own packages: the answer key. Refused the same way in every mode and tier
# (the jail and Landlock hide their files too, but an import must fail alike everywhere).
PRIVATE = frozenset({"grader", "reference"})


class ForbiddenModules:
    """Refuses the course's forbidden modules and the grader's own packages with a clear
    message (a meta path finder)."""

    def __init__(self, names):
        self.names = frozenset(names)

    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in PRIVATE:  # `from grader import check` has its stand-in in sys.modules
            error = ModuleNotFoundError(f"{name} belongs to the grader, not to submissions",
                                        name=name)
            error.private = top
            raise error
        if top in self.names:
            error = ModuleNotFoundError(f"{top} is forbidden in this course", name=top)
            error.forbidden = top
            raise error
        return None


def describe_error(exc, submission):
    """Type, message and the student's line, for the parent to show."""
    try:
        message = str(exc)
    except BaseException:
        message = "<message could not be printed>"
    info = {"type": type(exc).__name__, "message": message[:2000]}
    if getattr(exc, "private", None):
        info["private"] = exc.private
    elif getattr(exc, "forbidden", None):
        info["forbidden"] = exc.forbidden
    elif isinstance(exc, ImportError) and message.endswith(" is forbidden in this course"):
        info["forbidden"] = message.split()[0]  # raised by the jail's stand-in package
    if isinstance(exc, SyntaxError) and exc.filename == submission:
        info.update(line=exc.lineno, text=(exc.text or "").strip()[:200])
        return info
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == submission]
    if frames:
        info.update(line=frames[-1].lineno, function=frames[-1].name,
                    text=(frames[-1].line or "")[:200])
    return info


def as_array(value):
    """A plain ndarray copy of a numeric value, or None (object, string, ragged...)."""
    try:
        array = np.array(value, copy=True, subok=False)
    except BaseException:
        return None
    if type(array) is not np.ndarray or array.dtype.kind not in wire.ALLOWED_KINDS:
        return None
    return array


def describe_output(value, form, arrays):
    """The JSON description of a return value; its arrays are appended to `arrays`."""

    def item(v):
        array = as_array(v)
        if array is None:
            return {"invalid": type(v).__name__}
        arrays.append(array)
        return {"blob": len(arrays) - 1}

    if form == "dict":
        if not isinstance(value, dict):
            return {"container": type(value).__name__}
        keys, values, bad = [], [], {}
        for k, v in value.items():
            if type(k) is str and type(v) is float:  # most answers: as as_array would
                keys.append(k)
                values.append(v)
                continue
            array = as_array(v)
            if not isinstance(k, str) or array is None or array.size != 1 or array.dtype.kind == "c":
                bad[str(k)[:100]] = type(v).__name__
                continue
            keys.append(k)
            values.append(float(array.reshape(())))
        arrays.append(np.asarray(values, dtype=float))
        return {"container": "dict", "keys": keys, "bad": bad, "blob": len(arrays) - 1}
    if form in ("arrays", "program") and isinstance(value, (tuple, list)):
        return {"container": type(value).__name__, "items": [item(v) for v in value]}
    return {"container": "single", "items": [item(value)]}


def build_args(specs, arrays):
    args = []
    for spec in specs:
        if "array" in spec:
            args.append(arrays[spec["array"]].copy())
        elif "float" in spec:
            args.append(float(spec["float"]))
        elif "float_lists" in spec:  # a dict of lists of floats, packed by the grader
            table, start, value = spec["float_lists"], 0, {}
            flat = arrays[table["array"]].tolist()
            for key, length in zip(table["keys"], table["lengths"]):
                value[key] = flat[start:start + length]
                start += length
            args.append(value)
        else:  # decoded from this call's own part of the request: no other call sees it
            args.append(spec["json"])
    return args


# Steps a program may interleave with the student's functions: array steps (an SGD loop),
# a value held for the student's functions to share ("value"), an entry of a dict ("item"),
# entries set in a dict the student's functions share ("update": test mode after training).
PRIMITIVES = {"matmul": lambda a, b: a @ b, "add": lambda a, b: a + b,
              "relu": lambda a: np.maximum(a, 0.0), "axpy": lambda a, b, alpha: a + alpha * b,
              "value": lambda a: a,
              "item": lambda d, key: d.get(key) if isinstance(d, dict) else None,
              "update": lambda d, changes: d.update(changes) if isinstance(d, dict) else None}


def run_program(module, call, arrays):
    """A dataflow of student calls and other steps: each step may take the outputs of
    earlier ones ({"ref": [step, output]}), a student's cache among them; returns the
    outputs named in "returns", and the values named in "watch" (to see what the student's
    functions did to them)."""
    results, steps = [], call["program"]

    def resolve(spec):
        if "ref" in spec:
            step, index = spec["ref"]
            if index >= len(results[step]):
                raise TypeError(f"{steps[step].get('function')} returned {len(results[step])} "
                                f"value(s); the grader expected at least {index + 1} here (a "
                                "forward returns (out, cache))")
            return results[step][index]
        return build_args([spec], arrays)[0]

    for step in steps:
        args = [resolve(spec) for spec in step["args"]]
        if step["op"] == "call":
            out = getattr(module, step["function"])(*args)
            results.append(list(out) if isinstance(out, (tuple, list)) else [out])
        else:
            results.append([PRIMITIVES[step["op"]](*args)])
    return (tuple(resolve({"ref": r}) for r in call["returns"]),
            [resolve({"ref": r}) for r in call.get("watch", [])])


class Printed:
    """What the student's function prints, kept up to a cap (the rest is counted)."""

    CAP = 4000

    def __init__(self):
        self.kept, self.size, self.dropped = [], 0, 0

    def add(self, text):
        room = self.CAP - self.size
        self.kept.append(text[:max(room, 0)])
        self.size += min(len(text), max(room, 0))
        self.dropped += max(len(text) - max(room, 0), 0)
        return len(text)

    def text(self):
        return "".join(self.kept)


class Routed(io.TextIOBase):
    """sys.stdout or sys.stderr during a call: what the calling thread prints is the
    function's (`printed`); what other threads print (a thread the file started at its
    top level, still chatting) goes where it went before the call, so no exercise shows
    output that is not its own and differs from run to run."""

    def __init__(self, printed, replaced):
        self.printed, self.replaced, self.owner = printed, replaced, threading.get_ident()

    def writable(self):
        return True

    def write(self, text):
        if threading.get_ident() != self.owner:
            return self.replaced.write(text)
        return self.printed.add(str(text))


def run_call(module, call, arrays, submission, baseline):
    """Call one student function; return the result header and its arrays. The state the
    call changed is put back as soon as it returns (`settle`), before the harness describes
    what it returned: the harness needs numpy and the builtins as much as the next gate."""
    out_arrays = []
    header = {"type": "result", "call": call["id"]}
    missing = object()
    names = [s["function"] for s in call.get("program", []) if s["op"] == "call"] or \
        [call["function"]]
    functions = [getattr(module, name, missing) for name in names]
    if any(f is missing or (call["args"] is not None and not callable(f)) for f in functions):
        header.update(status="missing")
        return header, out_arrays
    args = build_args(call["args"] or [], arrays)
    start = time.perf_counter()
    printed = Printed()
    try:
        try:
            with contextlib.redirect_stdout(Routed(printed, sys.stdout)), \
                    contextlib.redirect_stderr(Routed(printed, sys.stderr)), \
                    warnings.catch_warnings():
                if call["form"] == "program":
                    value, watched = run_program(module, call, arrays)
                else:
                    value = functions[0] if call["args"] is None else functions[0](*args)
        finally:
            header["leftovers"] = settle(baseline)
    except BaseException as exc:  # SystemExit and KeyboardInterrupt cost this call only
        header.update(status="raised", error=describe_error(exc, submission))
        return header, out_arrays
    finally:
        header.update(printed=printed.text(), printed_dropped=printed.dropped)
    header["seconds"] = time.perf_counter() - start
    try:
        header["output"] = describe_output(value, call["form"], out_arrays)
        after = watched if call["form"] == "program" else args
        header["args_after"] = [describe_output(a, "array", out_arrays)["items"][0]
                                for a in after if isinstance(a, np.ndarray)]
    except BaseException as exc:
        header.update(status="raised", error=describe_error(exc, submission))
        return header, []
    header["status"] = "ok"
    return header, out_arrays


def running(children_too=True):
    """(threads, child processes) of this process: what student code may leave running.
    Without `children_too`, the children are not looked for (an empty set)."""
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:  # no /proc (macOS, Windows): Python's own threads only
        return threading.active_count(), frozenset()
    children = set()
    for task in tasks if children_too else ():
        try:
            with open(f"/proc/self/task/{task}/children") as f:
                children.update(f.read().split())
        except OSError:
            pass  # the thread ended meanwhile
    return len(tasks), frozenset(children)


def leftovers(before):
    """Did a call leave threads or processes running beyond `before` (those the import
    left)? The import's own come back in every fresh child, so only what a call added is
    worth a fresh child for the calls that follow. The kernel's lists of children are
    read only when this process has a child at all (reading them costs more than the
    call of a small gate; asking the kernel whether there is one does not)."""
    threads, children = running(bool(before[1]) or _has_children())
    return threads > before[0] or bool(children - before[1])


def settle(baseline):
    """Put back what the call changed for the calls after it (`state.py`); True when a
    fresh child should run those."""
    try:
        return baseline.restore()
    except BaseException:  # a handler the call set went off as it was put back
        return True


def _has_children():
    """Has this process a child (running or exited, not yet reaped)?"""
    try:
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    except (AttributeError, OSError):  # no waitid here: look
        return True
    return True


def stub_grader():
    """`from grader import check` in a submission must not run the grader inside the child:
    the checking tools are replaced by stand-ins (check() and use_pack() do nothing)."""
    import types

    module = types.ModuleType("grader")
    module.check = module.use_pack = lambda *args, **kwargs: None
    module.__path__ = []  # a package: `import grader.x` then reaches ForbiddenModules
    sys.modules["grader"] = module


def _refused(exc):
    """An import of a forbidden module or of the grader: fatal for the whole file."""
    return bool(getattr(exc, "forbidden", None) or getattr(exc, "private", None) or (
        isinstance(exc, ImportError) and str(exc).endswith(" is forbidden in this course")))


def _instant(statement):
    """Can running this statement neither take long nor end the process? A docstring, a
    constant bound to a name, a plain `def` whose defaults and annotations are constants or
    names: most of a file, and no announcement needed (each costs a frame)."""
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
        args = statement.args
        evaluated = [*args.defaults, *args.kw_defaults, statement.returns,
                     *(a.annotation for a in [*args.posonlyargs, *args.args, *args.kwonlyargs,
                                              args.vararg, args.kwarg] if a is not None)]
        return not statement.decorator_list and all(
            e is None or isinstance(e, (ast.Constant, ast.Name)) for e in evaluated)
    if isinstance(statement, ast.Assign):
        return isinstance(statement.value, ast.Constant) and all(
            isinstance(t, ast.Name) for t in statement.targets)
    return isinstance(statement, ast.Pass) or (
        isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant))


def import_submission(path, skip=frozenset(), announce=lambda line: None):
    """Run the file one top-level statement at a time, like a notebook's cells: a
    statement that raises (an assert, input(), a missing data file, exit()) is skipped
    and reported, and costs only what depends on it. `announce(line)` precedes each
    statement that may take long or end the process, so the parent knows which one to
    stop and leave out (`skip`, by first line). Returns (module, skipped)."""
    stub_grader()
    spec = importlib.util.spec_from_file_location("submission", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["submission"] = module
    with open(path, "rb") as f:
        tree = compile(f.read(), path, "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    flags, skipped = 0, []
    for statement in tree.body:
        if isinstance(statement, ast.ImportFrom) and statement.module == "__future__":
            for alias in statement.names:
                flags |= getattr(__future__, alias.name).compiler_flag
        if statement.lineno in skip:
            continue
        if not _instant(statement):
            announce(statement.lineno)
        try:  # one Python cannot compile ('return' outside a function, too deep) is skipped
            exec(compile(ast.Module([statement], []), path, "exec", flags, dont_inherit=True),
                 module.__dict__)
        except BaseException as exc:
            if _refused(exc):
                raise
            skipped.append({"line": statement.lineno, **describe_error(exc, path)})
    return module, skipped


def main(request_fd, result_fd):
    grader = os.getppid()
    frames = requests(request_fd)
    nonce, request, _ = next(frames)
    sender = Sender(result_fd, nonce)
    try:
        layers = lockdown.apply(request["lockdown"])
    except lockdown.LockdownError as exc:
        sender.send({"type": "locked", "ok": False, "error": str(exc)[:500]})
        return
    processes.die_with_parent(grader)  # after the uid drop, which clears it
    sender.send({"type": "locked", "ok": True, "layers": layers})
    submission = request["submission"]
    sys.argv = [submission]
    sys.meta_path.insert(0, ForbiddenModules(request.get("forbidden", [])))
    # The extreme-input cases overflow exp in correct code too (1 / (1 + exp(-x)) at
    # x = -750 is right): numpy's warning would read as a fault under "printed". A wrong
    # value still shows, and the hints name nan and inf. Set again after the import: a
    # top-level `np.seterr(all="raise")` (a debugging line) must not fail correct gates.
    np.seterr(over="ignore", under="ignore")
    faulthandler.enable()
    auditor = audit.install([sys.prefix, sys.base_prefix, sys.exec_prefix,
                             os.path.dirname(np.__file__), os.path.dirname(__file__)])
    try:
        module, skipped = import_submission(
            submission, frozenset(request.get("skip", [])),
            lambda line: sender.send({"type": "statement", "line": line}))
    except BaseException as exc:
        sender.send({"type": "import", "ok": False, "error": describe_error(exc, submission),
                     "audit": auditor.report()})
        return
    np.seterr(over="ignore", under="ignore")  # see above; the rest of its choices stay
    imported, baseline = running(), state.Baseline()
    sender.send({"type": "import", "ok": True, "skipped": skipped[:20],
                 "audit": auditor.report()})
    for _, batch, arrays in frames:
        for call in batch["calls"]:
            header, out = run_call(module, call, arrays, submission, baseline)
            header["leftovers"] = header.get("leftovers") or leftovers(imported)
            header["audit"] = auditor.report()
            try:
                sender.send(header, out)
            except (ValueError, OSError) as exc:  # e.g. an output too odd to serialise
                sender.send({"type": "result", "call": call["id"], "status": "raised",
                             "error": {"type": type(exc).__name__,
                                       "message": str(exc)[:500]}})


def serve_and_exit(request_fd, result_fd, prepare=lambda: None):
    """Prepare (confine), serve the request, and end this process in every case."""
    try:
        prepare()
        main(request_fd, result_fd)
    except BaseException:
        traceback.print_exc()  # the harness itself failed: leave a trace in stderr
    finally:
        # Skip atexit handlers and non-daemon threads the student may have left behind.
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(0)


def portable_channels():
    """The portable path's pipes (`runner._Portable`): the request arrives on stdin and
    results leave on what was stdout; from here on, what the student prints goes to
    stderr, never into the result stream."""
    if os.name == "nt":
        import msvcrt

        for fd in (0, 1):
            msvcrt.setmode(fd, os.O_BINARY)
    result_fd = os.dup(1)
    os.dup2(2, 1)
    return 0, result_fd


if __name__ == "__main__":
    if sys.argv[1:] == ["--portable"]:
        serve_and_exit(*portable_channels())
    else:
        serve_and_exit(int(sys.argv[1]), int(sys.argv[2]))
