"""The confinement ladder, tried for real in every environment this machine can simulate:

- `full`: root with every capability (this machine, CI);
- `container`: root in a default Docker container (Docker's capability set, no
  CAP_SYS_ADMIN, namespaces refused by seccomp: `environments/docker_sim.py`), which is how
  Gradescope and PrairieLearn run the grader;
- `user`: a TA grading as a normal user who owns the grader's venv (a test user with a venv
  made from the system Python; skipped, with the reason, where that cannot be built).

Each environment grades the same attacks through the installed command line. An attack
that works inside the sandbox costs its gate ("BREACH"); what it could do outside (files,
signals, connections, IPC) is checked here afterwards.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pwd
import re
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, SOLUTION, SUBMISSIONS, header, may_lose

pytestmark = pytest.mark.linux

TIERS_CORPUS = SUBMISSIONS / "tiers"
DOCKER_SIM = ROOT / "tests" / "environments" / "docker_sim.py"
_held_locks: list = []


def _claim_ta_user() -> str:
    """This session's TA account: bpg-ta, else bpg-ta2, bpg-ta3... (the first no other
    session holds). Its processes are then this session's alone: "nothing of the TA's is
    left running" means what it says while another suite runs beside this one."""
    for n in range(1, 17):
        name = "bpg-ta" + (str(n) if n > 1 else "")
        try:
            lock = open(f"/var/tmp/backprop-grader-{name}.lock", "a")
        except OSError:  # not root: the tests that need a TA are skipped anyway
            continue
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            continue
        _held_locks.append(lock)  # held until the session ends
        return name
    return "bpg-ta"


TA_USER = _claim_ta_user()
# The TA's packages (numpy, pyyaml, click, nbformat): built once per machine, under a lock,
# then only ever copied. Each test session installs its own grader into its own copy:
# sessions side by side (two developers, a suite running beside another) never reinstall
# the grader under each other's feet.
TA_BASE = Path("/var/tmp/backprop-grader-ta-base")
TA_VENV = Path(f"/var/tmp/backprop-grader-ta-venv-{os.getpid()}")
LIMITS = {"exercise_seconds": 3, "import_seconds": 10, "total_seconds": 60, "processes": 32,
          "file_bytes": 1 << 20}
ENVIRONMENTS = ["full", "container", "user"]


def _as_root():
    if os.geteuid() != 0:
        pytest.skip("simulating environments needs root (as in CI)")


@pytest.fixture(scope="session")
def ta() -> pwd.struct_passwd:
    """A TA's account with its own venv of the grader (made from the system Python: the
    interpreter here lives in root's home, which other users cannot enter)."""
    _as_root()
    system_python = shutil.which("python3", path="/usr/bin:/usr/local/bin")
    if not system_python:
        pytest.skip("no system python3 to build the TA's venv from")
    with _machine_lock():
        user = _ta_account()
        _build_base(system_python)
        _sweep_session_venvs()
    # Modules that import this fixture each hold a session-scoped copy of it: the first
    # builds the session's venv, the last one to finish removes it.
    if not _users_of_venv:
        _install_session_venv(user)
    _users_of_venv.append(user)
    try:
        yield user
    finally:
        _users_of_venv.pop()
        if not _users_of_venv:
            shutil.rmtree(TA_VENV, ignore_errors=True)


_users_of_venv: list[pwd.struct_passwd] = []


def _install_session_venv(user: pwd.struct_passwd) -> None:
    from grader.platforms import build_wheel

    shutil.rmtree(TA_VENV, ignore_errors=True)
    shutil.copytree(TA_BASE, TA_VENV, symlinks=True)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = build_wheel(Path(tmp), ROOT / "exercises")
        subprocess.run([str(TA_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet",
                        "--no-deps", "--force-reinstall", str(wheel)], check=True)
    subprocess.run(["chown", "-R", f"{user.pw_uid}:{user.pw_gid}", str(TA_VENV)], check=True)


@contextlib.contextmanager
def _machine_lock():
    """One session at a time creates the TA's account and base venv."""
    with open(f"{TA_BASE}.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _ta_account() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(TA_USER)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", TA_USER], check=True)
        return pwd.getpwnam(TA_USER)


def _build_base(system_python: str) -> None:
    """The TA's packages without the grader, built aside and renamed into place: a base
    that exists is complete, and is never changed again."""
    if (TA_BASE / "bin" / "python").exists():
        return
    building = Path(f"{TA_BASE}-building")
    shutil.rmtree(building, ignore_errors=True)
    subprocess.run([system_python, "-m", "venv", str(building)], check=True)
    got = subprocess.run([str(building / "bin" / "python"), "-m", "pip", "install", "--quiet",
                          "numpy", "pyyaml", "click", "nbformat"], capture_output=True,
                         text=True)
    if got.returncode != 0:
        shutil.rmtree(building, ignore_errors=True)
        pytest.skip("cannot install numpy into the TA's venv (no package index?): " +
                    got.stderr[-300:])
    os.rename(building, TA_BASE)


def _sweep_session_venvs() -> None:
    """The copies of sessions that were killed before they could remove their own."""
    for path in TA_VENV.parent.glob("backprop-grader-ta-venv-*"):
        try:
            os.kill(int(path.name.rsplit("-", 1)[1]), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except (ValueError, OSError):
            continue


@pytest.fixture
def place(request):
    """A folder every environment can read (pytest's own tmp is root-only)."""
    folder = Path(tempfile.mkdtemp(prefix="backprop-tiers-"))
    os.chmod(folder, 0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def course_in(folder: Path, **limits) -> Path:
    """The bundled course with this module's LIMITS (and any of them changed)."""
    course = folder / "course"
    shutil.copytree(ROOT / "exercises", course)
    data = yaml.safe_load((course / "assignment.yaml").read_text())
    data["limits"] = {**LIMITS, **limits}
    (course / "assignment.yaml").write_text(yaml.safe_dump(data))
    (course / "answers.txt").write_text("SECRET answers of the course\n")
    return course / "assignment.yaml"


def grader_command(env: str, args: list, request,
                   extra_env: dict | None = None) -> tuple[list[str], dict]:
    """(command, environment) of the installed command line as it runs in `env` (root
    here, as in CI)."""
    _as_root()
    base = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C.UTF-8",
            **(extra_env or {})}
    args = [str(a) for a in args]
    if env == "full":
        command = [sys.executable, "-m", "grader", *args]
        base.update(PYTHONPATH=str(ROOT), HOME="/root")
    else:  # a Python under /usr, as in Gradescope's and PrairieLearn's images
        user = request.getfixturevalue("ta")
        command = [str(TA_VENV / "bin" / "python"), "-m", "grader", *args]
        if env == "container":
            command = [sys.executable, str(DOCKER_SIM), *command]
            base["HOME"] = "/root"
        else:
            command = ["runuser", "-u", TA_USER, "--", *command]
            base["HOME"] = user.pw_dir
    return command, base


def run_grader(env: str, args: list, request, extra_env: dict | None = None,
               timeout: float = 600) -> subprocess.CompletedProcess:
    command, base = grader_command(env, args, request, extra_env)
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd="/",
                          env=base)


def checked(env, submission, course, request, extra_env=None) -> dict:
    done = run_grader(env, ["check", submission, "--json", "--assignment", course], request,
                      extra_env)
    assert done.returncode in (0, 1), done.stderr[-2000:]
    return json.loads(done.stdout)


def compose_into(folder: Path, override: str, name: str = "backprop.py") -> Path:
    path = folder / name
    path.write_text(SOLUTION.read_text() + "\n\n# ---- override ----\n" + override)
    os.chmod(path, 0o644)
    return path


def outlived_their_grader(uid: int) -> list[int]:
    """Processes of `uid` started from a harness whose grader is gone: the harness folder
    is named `backprop-harness-<grader pid>-…`. Other sessions' graders, running as the
    same TA beside this test, are alive: their children are not counted."""
    from grader.sandbox.child import processes

    left = []
    for pid in processes.live_processes(uid):
        try:
            found = re.search(rb"backprop-harness-(\d+)-", Path(f"/proc/{pid}/cmdline").read_bytes())
        except OSError:
            continue
        if found and not Path(f"/proc/{int(found.group(1))}").exists():
            left.append(pid)
    return left


def _sandbox_uid_processes(report: dict) -> list[int]:
    from grader.sandbox.child import processes

    uid = next((int(layer.split()[1]) for layer in report["confinement"]["layers"]
                if layer.startswith("uid ")), None)
    return processes.live_processes(uid) if uid is not None else []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_environment_gets_its_tier(env, place, request):
    report = checked(env, SOLUTION, course_in(place), request)
    expected = {"full": "full", "container": "container", "user": "user"}[env]
    assert report["confinement"]["tier"] == expected, report["confinement"]
    layers = " ".join(report["confinement"]["layers"])
    assert report["score"] == report["max_score"]
    if env != "full":
        assert "Landlock" in layers and "seccomp" in layers
    if env in ("full", "container"):
        assert "uid 6" in layers or "sandbox uid" in layers


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_attacks_fail_in_every_tier(env, place, request):
    """Secrets, writes, network, signals, IPC and ptrace: all blocked, grading stays fair."""
    marker = f"backprop-breach-{secrets.token_hex(4)}"
    shm_key = secrets.randbelow(1 << 30) + 1
    secret_dir = place / "source"
    secret_dir.mkdir()
    (secret_dir / "grading.json").write_text('{"secret": "SECRET-seed"}')
    os.chmod(secret_dir / "grading.json", 0o600)
    results = place / "results.json"
    results.write_text("{}")
    home = Path(request.getfixturevalue("ta").pw_dir) if env == "user" else Path("/root")
    (place / "home-notes.txt").write_text("SECRET notes of the TA\n")
    if env == "user":
        note = home / "notes.txt"
        note.write_text("SECRET notes of the TA\n")
        shutil.chown(note, TA_USER, TA_USER)
    site = Path(sys.prefix) / "lib" if env == "full" else TA_VENV / "lib"
    site_packages = next(site.glob("python3*/site-packages"))
    targets = [site_packages / f"{marker}.pth", home / f"{marker}.rc", results,
               Path("/tmp") / marker, Path("/var/tmp") / marker,
               ROOT / "grader" / f"{marker}.py"]
    secrets_paths = [secret_dir / "grading.json", home / "notes.txt",
                     place / "course" / "answers.txt", "/etc/shadow"]
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    course = course_in(place)
    source = (TIERS_CORPUS / "attacks.py").read_text()
    for name, value in (("SECRETS", [str(p) for p in secrets_paths]),
                        ("WRITABLE_TARGETS", [str(p) for p in targets]),
                        ("PORT", listener.getsockname()[1]), ("SHM_KEY", shm_key),
                        ("MARKER", marker)):
        source = source.replace(name, repr(value))
    submission = compose_into(place, source)
    try:
        report = checked(env, submission, course, request,
                         {"BACKPROP_TEST_TOKEN": "SECRET-token"})
        lost = {e["id"]: e["hints"] for e in report["exercises"] if e["score"] < e["max_score"]}
        assert lost == {}, lost  # every attack failed inside the sandbox
        for target in targets:
            assert not target.exists() or target.read_text() == "{}", f"wrote {target}"
        with pytest.raises(BlockingIOError):
            listener.accept()
        assert not Path("/dev/shm", marker).exists()
        with open("/proc/sysvipc/shm") as f:
            keys = {int(line.split()[0]) for line in list(f)[1:]}
        assert shm_key not in keys
        assert _sandbox_uid_processes(report) == []
    finally:
        listener.close()
        for target in targets:
            if target != results and target.exists():
                target.unlink()
        (home / "notes.txt").unlink(missing_ok=True)


# Each a file with a header naming its gate (attacks.py and walk_readable.py are templates).
RESOURCE_ATTACKS = sorted(p for p in TIERS_CORPUS.glob("*.py") if "exercise" in header(p))


@pytest.mark.parametrize("path", RESOURCE_ATTACKS, ids=lambda p: p.stem)
@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_resource_attacks_cost_only_their_gate(env, path, place, request):
    meta = header(path)
    report = checked(env, compose_into(place, path.read_text()), course_in(place), request)
    for ex in report["exercises"]:
        if ex["id"] == meta["exercise"]:
            assert re.fullmatch(meta["status"], ex["status"]), ex
            assert any(re.search(meta["message"], h) for h in ex["hints"]), ex["hints"]
        elif ex["id"] not in may_lose(meta["exercise"]):
            assert ex["score"] == ex["max_score"], (ex["id"], ex["hints"])
    # Stopped by its gate's own limits (memory, processes, disk, its 3 s), never by the
    # submission's total time running out: no stopwatch, whatever the machine's load.
    said = [report["error"] or "", *(h for e in report["exercises"] for h in e["hints"])]
    assert not [h for h in said if "total time ran out" in h or "used up the submission" in h]
    assert _sandbox_uid_processes(report) == []
    if env == "user":
        assert outlived_their_grader(pwd.getpwnam(TA_USER).pw_uid) == []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_a_chatty_thread_gets_the_same_full_marks_on_every_run(env, place, request):
    """A correct file whose thread, started at import, prints every millisecond: issue 18
    saw 66-78/100, 0/100 and "could not protect this run" on runs of one file. Now: full
    marks ten times, never the machine's fault, and no gate shows the thread's output.
    Two runs at a time (each its own `check`, as two of a TA's would overlap): ten runs
    take half the time, and none may disturb the other."""
    course = course_in(place)
    chatty = compose_into(place, (SUBMISSIONS / "hostile" / "chatty_import_thread.py")
                          .read_text())
    command, environment = grader_command(
        env, ["check", chatty, "--json", "--assignment", course], request)
    scores = []
    for _ in range(5):
        runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, cwd="/", env=environment) for _ in range(2)]
        try:
            for run in runs:
                out, err = run.communicate(timeout=600)
                assert "could not protect" not in out + err
                assert run.returncode == 0, err[-2000:]  # 0: full marks
                report = json.loads(out)
                assert not [e["id"] for e in report["exercises"] if e["printed"]]
                scores.append(report["score"])
        finally:
            for run in runs:
                run.kill()
                run.wait()
    assert scores == [report["max_score"]] * 10


KILL_ALL = """
import os, signal
def mul_backward(dout, x, y):
    for target in (-1, os.getppid()):
        try:
            os.kill(target, signal.SIGKILL)
        except OSError:
            pass
    return dout * y, dout * x
"""


PIPE_PAGE = 4096  # the smallest pipe Linux makes; a --json report is several times that


def _check_held_until_read(command: list[str], environment: dict) -> tuple[subprocess.Popen, int]:
    """A `check` whose report goes to a pipe of one page: it cannot write the report, nor
    end and release its sandbox uid, before the test reads it (the read end is returned)."""
    report, write = os.pipe()
    fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, PIPE_PAGE)
    try:
        proc = subprocess.Popen(command, stdout=write, stderr=subprocess.PIPE, text=True,
                                env=environment, cwd="/")
    finally:
        os.close(write)
    return proc, report


@pytest.mark.parametrize("env", ["full", "container"])
def test_graders_side_by_side_never_disturb_each_other(env, place, request):
    """Several checks and a batch at once, one of them trying to kill everything it can
    signal: every correct submission keeps full marks."""
    _as_root()
    course = course_in(place)
    killer = compose_into(place, KILL_ALL, "killer.py")
    students = place / "class"
    students.mkdir()
    for name in ("ann", "bob", "cy"):
        shutil.copyfile(SOLUTION, students / f"{name}.py")
    base = [sys.executable, "-m", "grader"]
    if env == "container":
        base = [sys.executable, str(DOCKER_SIM), *base]
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    checks = [_check_held_until_read([*base, "check", str(s), "--json", "--assignment",
                                      str(course)], environment)
              for s in [SOLUTION] * 4 + [killer]]
    batch = subprocess.Popen([*base, "grade", str(students), "-o", str(place / "out"),
                              "--assignment", str(course), "--seed", "3", "-j", "2"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=environment, cwd="/")
    # Every check has graded (so claimed its uid) and is still alive, holding it: a check
    # cannot end before its report is read. A uid seen twice below was then held by two
    # graders at once, not handed on by a check that ended before another began (which
    # a busy machine makes likely, and which is right).
    reports = []
    try:
        deadline = time.monotonic() + 600  # a hang guard
        waiting = {report for _, report in checks}
        while waiting:
            assert time.monotonic() < deadline, "a check neither reported nor ended"
            ready, _, _ = select.select(list(waiting), [], [], deadline - time.monotonic())
            waiting -= set(ready)
        for proc, report in checks:
            with open(report, "rb", closefd=False) as f:
                out = f.read()
            _, err = proc.communicate(timeout=600)
            assert proc.returncode in (0, 1), err[-2000:]
            assert len(out) > PIPE_PAGE  # else it could have ended before the others graded
            reports.append(json.loads(out))
    finally:
        for proc, report in checks:
            os.close(report)
            proc.kill()
            proc.wait()
    out, err = batch.communicate(timeout=600)
    assert batch.returncode == 0, err[-2000:]
    assert [r["score"] for r in reports[:4]] == [100.0] * 4
    assert reports[4]["score"] == 100.0  # its kills reached nothing, itself included
    assert len((place / "out" / "gradebook.csv").read_text().splitlines()) == 1 + 3
    totals = [json.loads(line)["report"]["score"]
              for line in (place / "out" / "journal.jsonl").read_text().splitlines()]
    assert totals == [100.0] * 3
    uids = {layer for r in reports for layer in r["confinement"]["layers"]
            if layer.startswith("uid ")}
    assert len(uids) == 5  # a uid per grader


NO_SETUID = ("chown", "dac_override", "fowner", "kill")


def test_root_that_cannot_drop_privileges_refuses_to_grade(place):
    """Fail closed: without CAP_SETUID a root grader would run the submission as root."""
    _as_root()
    tree = place / "autograder"
    (tree / "submission").mkdir(parents=True)
    (tree / "source").mkdir()
    shutil.copyfile(SOLUTION, tree / "submission" / "backprop.py")
    caps = "-all," + ",".join("+" + c for c in NO_SETUID)
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    weak = ["setpriv", "--bounding-set", caps, "--inh-caps", "-all", sys.executable, "-m",
            "grader"]
    done = subprocess.run([*weak, "gradescope", "run", "--root", str(tree)], text=True,
                          capture_output=True, env=environment, cwd="/")
    assert done.returncode == 1, done.stdout + done.stderr
    results = json.loads((tree / "results" / "results.json").read_text())
    assert results["score"] == 0 and "could not protect this run" in results["output"]
    assert "not your fault" in results["output"]
    batch = subprocess.run([*weak, "grade", str(tree / "submission"), "-o", str(place / "o")],
                           text=True, capture_output=True, env=environment, cwd="/")
    assert batch.returncode == 2 and "could not protect" in batch.stderr
    assert not (place / "o" / "gradebook.csv").exists()
    advisory = subprocess.run([*weak, "check", str(SOLUTION)], text=True, capture_output=True,
                              env=environment, cwd="/")
    assert advisory.returncode == 0 and "sandbox: unconfined" in advisory.stdout


def test_gradescope_in_a_container_keeps_its_secret_and_its_results(place, request):
    """A real /autograder tree graded as Gradescope does, as root in a default container:
    the submission can read neither the secret seed nor write the results."""
    tree = place / "autograder"
    for sub in ("submission", "source", "results"):
        (tree / sub).mkdir(parents=True)
    (tree / "source" / "grading.json").write_text('{"secret": "SECRET-of-the-course"}')
    forge = f"""
import os, signal
def mul_backward(dout, x, y):
    for path in ({str(tree / 'source' / 'grading.json')!r},):
        try:
            if "SECRET" in open(path).read():
                raise RuntimeError("BREACH: read the secret seed")
        except OSError:
            pass
    try:
        open({str(tree / 'results' / 'results.json')!r}, "w").write('{{"score": 100}}')
    except OSError:
        pass
    try:
        os.kill(os.getppid(), signal.SIGKILL)
    except OSError:
        pass
    return dout * y, dout * x
"""
    compose_into(tree / "submission", forge)
    done = run_grader("container", ["gradescope", "run", "--root", tree], request)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((tree / "results" / "results.json").read_text())
    assert results["score"] == 100 and results["extra_data"]["confinement"]["tier"] == \
        "container"


PRIVATE_IMPORTS = """
def mul_backward(dout, x, y):
    import grader.sandbox
    return dout * y, dout * x

def add_backward(dout, x, y):
    from reference import gates
    return dout, dout
"""


@pytest.mark.parametrize("env", ENVIRONMENTS + ["unconfined"])
def test_importing_the_grader_fails_alike_in_every_tier(env, place, request):
    """At home (unconfined) as in the official run: the answer key is not importable,
    with one clear message, and `from grader import check` (notebooks) still works."""
    extra = {"BACKPROP_CONFINEMENT": "unconfined"} if env == "unconfined" else None
    source = "from grader import check\n" + PRIVATE_IMPORTS
    report = checked("full" if env == "unconfined" else env, compose_into(place, source),
                     course_in(place), request, extra)
    hints = {e["id"]: e["hints"] for e in report["exercises"] if e["score"] < e["max_score"]}
    assert set(hints) == {"mul", "add"}, hints
    assert "imports grader, the grader's own package" in hints["mul"][0]
    assert "imports reference, the grader's own package" in hints["add"][0]


def _is_daemon(pid: int) -> bool:
    """A harness process that is not its session's leader: forked by student code, then
    setsid in a parent that exited (every sandboxed child leads its own session)."""
    try:
        return os.getsid(pid) != pid and b"harness" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


# The shared hostile/setsid_daemon.py, its gate made to hang once it has started the
# daemon. As long as the call runs, the grader neither restarts the child (as it does
# after a call that leaves a process behind) nor stops it (the course used with it allows
# an hour): the daemon, the child that made it, its worker and fork server all live until
# the batch is killed, whenever the test comes to see them. (Left to return at once, each
# of its daemons lives only until the next call's fresh child: half a second to catch.)
DAEMON_THEN_HANG = (SUBMISSIONS / "hostile" / "setsid_daemon.py").read_text() + """

_start_daemon = add_backward


def add_backward(dout, x, y):
    _start_daemon(dout, x, y)
    while True:
        time.sleep(1)
"""


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_a_killed_batch_leaves_nothing_behind_in_every_environment(env, place, request):
    """SIGKILL of a batch mid-run, as root, in a Docker container and as a TA: its workers,
    fork servers, sandboxed children (a setsid daemon among them) and scratch folder go."""
    from grader.sandbox.child import processes

    # An hour per gate: the gate that made the daemon is running when the batch is killed.
    course = course_in(place, exercise_seconds=3600, total_seconds=3600)
    students = place / "class"
    students.mkdir()
    for i in range(30):
        shutil.copyfile(SOLUTION, students / f"s{i:02d}.py")
    compose_into(students, DAEMON_THEN_HANG, "a_daemon.py")  # first in line
    os.chmod(students, 0o777)
    out = place / "out"
    out.mkdir()
    os.chmod(out, 0o777)
    command, environment = grader_command(env, ["grade", students, "-o", out, "-j", "2",
                                                "--assignment", course], request)
    launcher = subprocess.Popen(command, env=environment, cwd="/", stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    try:
        # The daemon, once made, lives until the kill: this waits for a state, not a
        # moment. The deadline is a hang guard only.
        deadline = time.monotonic() + 600
        family = set()
        while not any(_is_daemon(p) for p in family):  # a forked harness, in its own session
            assert time.monotonic() < deadline and launcher.poll() is None, \
                "the daemon never ran"
            time.sleep(0.05)
            family = set(processes.descendants({launcher.pid}))
        main = next(p for p in sorted(family)  # python -m grader, under runuser or setpriv
                    if Path(f"/proc/{p}/cmdline").read_bytes().split(b"\x00")[1:4] ==
                    [b"-m", b"grader", b"grade"])
        os.kill(main, signal.SIGKILL)
        launcher.wait(timeout=300)
        # Its own scratch folder only (named with its pid): other graders on this machine,
        # another test session among them, make and remove theirs meanwhile.
        scratch = f"backprop-batch-{main}-*"
        deadline = time.monotonic() + 300  # a hang guard: they go within a second or so
        while time.monotonic() < deadline and (
                any(p in processes.descendants({p}) for p in family) or
                list(Path("/tmp").glob(scratch))):
            time.sleep(0.05)
        assert not [p for p in family if p in processes.descendants({p})]
        assert not list(Path("/tmp").glob(scratch))
    finally:
        launcher.kill()
