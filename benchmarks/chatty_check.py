"""A chatty submission costs no more than its quiet twin: `backprop check` of a correct file
with a thread, started at import, printing every millisecond, against the same file
without it.

    python benchmarks/chatty_check.py [--repeat 7] [--twin NAME]

With --twin, the noisy twin adds another file of tests/submissions/hostile instead, one
that leaves every exercise correct: say `arms_a_timer` or `chatty_threads`, whose gates
leave something running at each call, so that each call's successor runs in a fresh child.

Prints, per tier this machine can show (`full` as root, `container` as root in a
simulated default Docker container, `unconfined` forced with BACKPROP_CONFINEMENT), the
median wall time of each twin, their ratio (the issue's bound: 2x), and every score seen
(a single one each: a flood never changes the score). The two run in alternation, so a
load that comes and goes weighs on both alike.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = ROOT / "tests" / "submissions"
BASE_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
BASE_ENV["PYTHONPATH"] = str(ROOT)


def check(prefix: list[str], submission: Path, env: dict) -> tuple[float, float]:
    """(wall seconds, score) of one `backprop check --json`."""
    start = time.perf_counter()
    done = subprocess.run([*prefix, sys.executable, "-m", "grader", "check", str(submission),
                           "--json"], capture_output=True, text=True, env={**BASE_ENV, **env},
                          cwd=ROOT)
    seconds = time.perf_counter() - start
    try:
        return seconds, json.loads(done.stdout)["score"]
    except ValueError:
        sys.exit(f"check failed (status {done.returncode}): {done.stderr[-500:]}")


def twins(folder: Path, twin: str) -> dict[str, Path]:
    solution = (SUBMISSIONS / "solution.py").read_text()
    chatter = (SUBMISSIONS / "hostile" / f"{twin}.py").read_text()
    files = {"quiet": solution, "chatty": solution + "\n\n" + chatter}
    for name, text in files.items():
        (folder / f"{name}.py").write_text(text)
        os.chmod(folder / f"{name}.py", 0o644)
    return {name: folder / f"{name}.py" for name in files}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--twin", default="chatty_import_thread",
                        help="the hostile corpus file that makes the noisy twin")
    args = parser.parse_args()
    repeat = args.repeat
    runs = {"unconfined": ([], {"BACKPROP_CONFINEMENT": "unconfined"})}
    if os.geteuid() == 0:
        docker = [sys.executable, str(ROOT / "tests" / "environments" / "docker_sim.py")]
        runs = {"full": ([], {}), "container": (docker, {}), **runs}
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        files = twins(Path(tmp), args.twin)
        for tier, (prefix, env) in runs.items():
            seen = {name: [] for name in files}
            for _ in range(repeat):
                for name, path in files.items():
                    seen[name].append(check(prefix, path, env))
            median = {n: statistics.median(t for t, _ in got) for n, got in seen.items()}
            scores = {n: sorted({score for _, score in got}) for n, got in seen.items()}
            print(f"{tier:<10}  quiet {median['quiet']:.3f} s  {args.twin} "
                  f"{median['chatty']:.3f} s  = {median['chatty'] / median['quiet']:.2f}x  "
                  f"scores seen: quiet {scores['quiet']}, {args.twin} {scores['chatty']}")


if __name__ == "__main__":
    main()
