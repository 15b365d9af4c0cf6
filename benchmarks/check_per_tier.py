"""The cost of one `backprop check` of the whole assignment, per confinement tier.

    python benchmarks/check_per_tier.py [--repeat 7] [--against CHECKOUT] [-- CHECK ARGS]

Prints, measured side by side in one run: the median wall time of a bare
`python -c "import numpy"`, and of `backprop check` on the bundled example submission in
each tier this machine can show (`full` as root; `container` as root in a simulated
default Docker container, see tests/environments/docker_sim.py; `unconfined` forced with
BACKPROP_CONFINEMENT), each as a ratio to the bare numpy start (for `container`, to the
same numpy start under the simulator, whose own Python start would otherwise count
against the grader). Run it as root to see every tier. With --against, the same check
through another checkout of the grader (say, the commit before a change), in alternation
with this one's. After `--`, what to check instead, as `backprop check` takes it: say, a
submission whose top-level imports are slow, or `layers.py --pack cs231n`.
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
CHECK = [sys.executable, "-m", "grader", "check"]
EXAMPLE = [str(ROOT / "examples" / "buggy_backprop.py")]


def median_walls(commands: dict[str, tuple[list[str], dict]], repeat: int) -> dict[str, float]:
    """The median wall time of each command (with its environment), run in alternation."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeat):
        for name, (command, env) in commands.items():
            start = time.perf_counter()
            subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env={**BASE_ENV, **env}, cwd=env.get("PYTHONPATH", ROOT))
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--against", type=Path, help="another checkout of the grader")
    parser.add_argument("check_args", nargs="*", metavar="CHECK ARGS",
                        help="what to check (default: the bundled example)")
    args = parser.parse_args()
    check = CHECK + [str(Path(a).resolve()) if Path(a).exists() else a
                     for a in args.check_args or EXAMPLE]
    roots = {"": ROOT, **({f" [{args.against}]": args.against} if args.against else {})}
    bare = [sys.executable, "-c", "import numpy"]
    runs = {"unconfined": ([], {"BACKPROP_CONFINEMENT": "unconfined"})}
    if os.geteuid() == 0:
        docker = [sys.executable, str(ROOT / "tests" / "environments" / "docker_sim.py")]
        runs = {"full": ([], {}), "container": (docker, {}), **runs}
    numpy = median_walls({"": (bare, {})}, args.repeat)[""]
    print(f"python -c 'import numpy'        {numpy:.3f} s")
    for tier, (prefix, env) in runs.items():
        base = median_walls({"": (prefix + bare, {})}, args.repeat)[""] if prefix else numpy
        seconds = median_walls({name: (prefix + check, {**env, "PYTHONPATH": str(root)})
                                for name, root in roots.items()}, args.repeat)
        for name, value in seconds.items():
            print(f"backprop check ({tier:<10}){name} {value:.3f} s = {value / base:.1f}x numpy"
                  + (f" (numpy under the simulator: {base:.3f} s)" if prefix else ""))


if __name__ == "__main__":
    main()
