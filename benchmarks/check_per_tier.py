"""The cost of one `backprop check` of the whole assignment, per confinement tier.

    python benchmarks/check_per_tier.py [--repeat 7]

Prints, measured side by side in one run: the median wall time of a bare
`python -c "import numpy"`, and of `backprop check` on the bundled example submission in
each tier this machine can show (`full` as root; `container` as root in a simulated
default Docker container, see tests/environments/docker_sim.py; `unconfined` forced with
BACKPROP_CONFINEMENT), each as a ratio to the bare numpy start. Run it as root to see
every tier.
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
CHECK = [sys.executable, "-m", "grader", "check", str(ROOT / "examples" / "buggy_backprop.py")]


def median_wall(command: list[str], repeat: int, env: dict | None = None) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, cwd=ROOT)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    repeat = parser.parse_args().repeat
    numpy = median_wall([sys.executable, "-c", "import numpy"], repeat)
    print(f"python -c 'import numpy'        {numpy:.3f} s")
    runs = {"unconfined": (CHECK, {"BACKPROP_CONFINEMENT": "unconfined"})}
    if os.geteuid() == 0:
        docker = [sys.executable, str(ROOT / "tests" / "environments" / "docker_sim.py")]
        runs = {"full": (CHECK, None), "container": (docker + CHECK, None), **runs}
    for tier, (command, env) in runs.items():
        seconds = median_wall(command, repeat, env)
        print(f"backprop check ({tier:<10})      {seconds:.3f} s = {seconds / numpy:.1f}x numpy")


if __name__ == "__main__":
    main()
