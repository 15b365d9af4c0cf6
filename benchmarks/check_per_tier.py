"""The cost of one `backprop check` of the whole assignment, per confinement tier.

    python benchmarks/check_per_tier.py [--repeat 7]

Prints, measured side by side in one run: the median wall time of a bare
`python -c "import numpy"`, and of `backprop check` on the bundled example submission in
each tier this machine can show (`full` as root; `container` as root in a simulated
default Docker container, see tests/environments/docker_sim.py; `unconfined` forced with
BACKPROP_CONFINEMENT), each as a ratio to the bare numpy start (for `container`, to the
same numpy start under the simulator, whose own Python start would otherwise count
against the grader). Run it as root to see every tier.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# As installed by pip: bytecode cached (some shells set PYTHONDONTWRITEBYTECODE).
BASE_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
BASE_ENV["PYTHONPATH"] = str(ROOT)
CHECK = [sys.executable, "-m", "grader", "check", str(ROOT / "examples" / "buggy_backprop.py")]


def median_wall(command: list[str], repeat: int, env: dict | None = None) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env={**BASE_ENV, **(env or {})}, cwd=ROOT)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    repeat = parser.parse_args().repeat
    bare = [sys.executable, "-c", "import numpy"]
    numpy = median_wall(bare, repeat)
    print(f"python -c 'import numpy'        {numpy:.3f} s")
    runs = {"unconfined": ([], {"BACKPROP_CONFINEMENT": "unconfined"})}
    if os.geteuid() == 0:
        docker = [sys.executable, str(ROOT / "tests" / "environments" / "docker_sim.py")]
        runs = {"full": ([], None), "container": (docker, None), **runs}
    for tier, (prefix, env) in runs.items():
        base = median_wall(prefix + bare, repeat) if prefix else numpy
        seconds = median_wall(prefix + CHECK, repeat, env)
        print(f"backprop check ({tier:<10})      {seconds:.3f} s = {seconds / base:.1f}x numpy"
              + (f" (numpy under the simulator: {base:.3f} s)" if prefix else ""))

if __name__ == "__main__":
    main()
