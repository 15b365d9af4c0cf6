"""Batch grading speed: a generated class of 200 submissions through `backprop grade`.

    python benchmarks/batch_class.py [--students 200] [--jobs N] [--against CHECKOUT]

Prints, measured side by side in one run: the wall time of a bare `python -c "import
numpy"` (the cost of starting one Python with numpy), and the wall time per submission
of grading the whole class with the real CLI, with secret inputs per student (the
default: cases planned per student) and with one --seed for all (planned once); each as
a ratio to the numpy start. A third of the class is
correct, the rest each carry one classic mistake from tests/submissions/bad. With
--against, the same class through another checkout of the grader (say, the commit before
a change), right after each run of this one.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = ROOT / "tests" / "submissions"


def make_class(folder: Path, students: int) -> None:
    solution = (SUBMISSIONS / "solution.py").read_text()
    mistakes = sorted((SUBMISSIONS / "bad").glob("*.py"))
    rng = random.Random(0)
    for i in range(students):
        extra = "" if i % 3 == 0 else "\n\n" + rng.choice(mistakes).read_text()
        (folder / f"student{i:03d}.py").write_text(solution + extra)


def wall(command: list[str], root: Path = ROOT) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--against", type=Path, help="another checkout of the grader")
    args = parser.parse_args()
    roots = {"": ROOT, **({f" [{args.against}]": args.against} if args.against else {})}
    work = Path(tempfile.mkdtemp(prefix="backprop-bench-"))
    try:
        (work / "class").mkdir()
        make_class(work / "class", args.students)
        numpy_start = statistics.median(wall([sys.executable, "-c", "import numpy"])
                                        for _ in range(7))
        print(f"bare `python -c 'import numpy'`:   {numpy_start:.3f} s")
        for label, extra in (("secret inputs per student (default)", []),
                             ("one --seed for everyone", ["--seed", "1"])):
            for name, root in roots.items():
                command = [sys.executable, "-m", "grader", "grade", str(work / "class"), "-o",
                           str(work / f"out{len(extra)}{len(name)}")] + extra + \
                    (["-j", str(args.jobs)] if args.jobs else [])
                total = wall(command, root)
                per = total / args.students
                print(f"backprop grade, {args.students} submissions, {label}{name}: "
                      f"{total:.2f} s in all, {per:.3f} s per submission = "
                      f"{per / numpy_start:.2f}x numpy start")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
