"""The CS231n pack's whole check against the lecture's: `backprop check layers.py --pack
cs231n` of a vectorised solution (and of the loop-based one students write) next to
`backprop check backprop.py` of the lecture's solution, and a bare numpy start.

    python benchmarks/pack_check.py [--repeat 7]

Prints, measured side by side in one run (the commands alternate, so a load that comes and
goes weighs on all alike): the median wall time of each, and the pack's ratio to the
lecture's check (the issue's bound: 2x).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACK = ROOT / "packs" / "cs231n"
COMMANDS = {
    "numpy start": [sys.executable, "-c", "import numpy"],
    "lecture check": [sys.executable, "-m", "grader", "check",
                      str(ROOT / "tests" / "submissions" / "solution.py")],
    "cs231n check (vectorised)": [sys.executable, "-m", "grader", "check",
                                  str(PACK / "solutions" / "layers.py"), "--pack", str(PACK)],
    "cs231n check (loops)": [sys.executable, "-m", "grader", "check",
                             str(PACK / "solutions" / "layers_loops.py"), "--pack", str(PACK)],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.repeat):
        for name, command in COMMANDS.items():
            start = time.perf_counter()
            done = subprocess.run(command, cwd=ROOT, capture_output=True)
            times[name].append(time.perf_counter() - start)
            if done.returncode not in (0,):
                sys.exit(f"{name} failed ({done.returncode}): {done.stdout.decode()[-500:]}")
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name, median in medians.items():
        print(f"{name:28s} {median:6.3f} s   {median / medians['numpy start']:5.1f}x numpy")
    lecture = medians["lecture check"]
    for name in ("cs231n check (vectorised)", "cs231n check (loops)"):
        print(f"{name} / lecture check: {medians[name] / lecture:.2f}x (goal <= 2x)")


if __name__ == "__main__":
    main()
