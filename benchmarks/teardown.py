"""How fast a batch lets go: Ctrl-C, SIGKILL, and reading a big Gradescope export.

    python benchmarks/teardown.py [--students 250] [--runs 3]

Prints, measured in one run:
- Ctrl-C: seconds from SIGINT to the batch's exit (the goal: within 2 s), and how many of
  its processes were still alive 1 s later;
- SIGKILL: seconds until every process of the batch (workers, fork servers, sandboxed
  children) and its scratch folder are gone (the goal: within 1 s);
- discovery of a Gradescope export of N students with history: the C YAML loader that
  discovery uses vs the pure-Python one, side by side.
"""

from __future__ import annotations

import argparse
import glob
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.sandbox.child import processes  # noqa: E402

SOLUTION = (ROOT / "tests" / "submissions" / "solution.py").read_text()


def start(folder: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "grader", "grade", str(folder), "-o", str(out), "-j", "2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def family_when_busy(proc: subprocess.Popen, out: Path) -> set[int]:
    journal = out / "journal.jsonl"
    while not (journal.exists() and journal.read_text().count("\n") >= 3):
        time.sleep(0.01)
    return set(processes.descendants({proc.pid})) - {proc.pid}


def gone_after(pids: set[int], scratch: set[str]) -> float:
    started = time.monotonic()
    while any(p in processes.descendants({p}) for p in pids) or \
            set(glob.glob("/tmp/backprop-batch-*")) - scratch:
        time.sleep(0.005)
    return time.monotonic() - started


def measure(folder: Path, kind: str) -> tuple[float, float]:
    """(seconds to exit or to clean up, processes alive 1 s after the signal)."""
    with tempfile.TemporaryDirectory() as tmp:
        scratch = set(glob.glob("/tmp/backprop-batch-*"))
        proc = start(folder, Path(tmp) / "out")
        family = family_when_busy(proc, Path(tmp) / "out")
        t0 = time.monotonic()
        if kind == "ctrl-c":
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait()
            seconds = time.monotonic() - t0
        else:
            proc.kill()
            proc.wait()
            seconds = gone_after(family, scratch) + time.monotonic() - t0
        time.sleep(max(0.0, 1.0 - (time.monotonic() - t0)))
        alive = sum(p in processes.descendants({p}) for p in family)
        return seconds, alive


def export_metadata(students: int) -> str:
    history = [{":id": 10 + k, ":created_at": "2026-11-20 10:00:00.000000000 Z",
                ":score": 50.0, ":status": "processed",
                ":results": {"tests": [{"name": f"t{t}", "score": 1.0, "output": "ok " * 150}
                                       for t in range(17)]}}
               for k in range(8)]
    return yaml.safe_dump({f"submission_{i}": {
        ":submitters": [{":name": f"S {i}", ":sid": str(i), ":email": f"s{i}@u.edu"}],
        ":created_at": "2026-11-20 20:00:00.000000000 Z", ":score": 90.0,
        ":history": history} for i in range(students)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=250)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "class"
        folder.mkdir()
        for i in range(60):
            (folder / f"s{i:03d}.py").write_text(SOLUTION)
        for kind in ("ctrl-c", "sigkill"):
            runs = [measure(folder, kind) for _ in range(args.runs)]
            print(f"{kind:8s}: gone in {statistics.median(s for s, _ in runs):.2f} s (median "
                  f"of {args.runs}); processes alive 1 s later: {max(a for _, a in runs)}")
    text = export_metadata(args.students)
    timings = {}
    for name, loader in (("C loader (used)", getattr(yaml, "CSafeLoader", None)),
                         ("pure Python", yaml.SafeLoader)):
        if loader is None:
            print("the C YAML loader is not built here")
            continue
        t0 = time.perf_counter()
        yaml.load(text, Loader=loader)
        timings[name] = time.perf_counter() - t0
        print(f"export of {args.students} students with history, {name:16s}: "
              f"{timings[name]:.2f} s")
    if len(timings) == 2:
        print(f"the C loader is {timings['pure Python'] / timings['C loader (used)']:.1f}x "
              "faster")


if __name__ == "__main__":
    main()
