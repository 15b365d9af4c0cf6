"""A notebook costs about what its .py costs: `backprop check` of a 79-cell notebook with
the clutter students leave (markdown, prints, a training loop, plots with their outputs)
against the .py of the same functions.

    python benchmarks/notebook_check.py [--repeat 7] [--against CHECKOUT]

Prints, measured side by side in one run (the two alternate, so a load that comes and goes
weighs on both alike): the median wall time of each and their ratio (the issue's bound:
1.3x). With --against, the same for another checkout of the grader (say, the commit
before a change), in the same alternation.
"""

from __future__ import annotations

import argparse
import ast
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = ROOT / "tests" / "submissions" / "solution.py"
BASE_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
CELLS = 79
PLOT = {"output_type": "display_data", "metadata": {},
        "data": {"image/png": base64.b64encode(os.urandom(60_000)).decode(),
                 "text/plain": ["<Figure size 640x480 with 1 Axes>"]}}
CLUTTER = ["print('shapes', x.shape, w.shape)",
           "for step in range(1000):\n    loss = train_step(step)\nprint(loss)",
           "%matplotlib inline\nplt.plot(losses)\nplt.show()"]


def cell(kind: str, source: str, outputs: list | None = None) -> dict:
    made = {"cell_type": kind, "metadata": {}, "source": source.splitlines(keepends=True)}
    if kind == "code":
        made.update(execution_count=1, outputs=outputs or [])
    return made


def notebook_of(source: str) -> dict:
    """Each top-level block of the .py in a code cell, with a markdown cell before it and
    clutter after it, up to CELLS cells."""
    tree = ast.parse(source)
    lines = source.splitlines()
    cells = []
    for i, node in enumerate(tree.body):
        start = node.lineno - 1 - len(getattr(node, "decorator_list", []))
        cells += [cell("markdown", f"## Step {i}\nWhat this cell does, in words."),
                  cell("code", "\n".join(lines[start:node.end_lineno]))]
        if len(cells) < CELLS:
            cells.append(cell("code", CLUTTER[i % len(CLUTTER)], [PLOT]))
    while len(cells) < CELLS:
        cells.append(cell("code", CLUTTER[len(cells) % len(CLUTTER)], [PLOT]))
    return {"nbformat": 4, "nbformat_minor": 5, "cells": cells[:CELLS],
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                        "language": "python"}}}


def check(root: Path, submission: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "grader", "check", str(submission), "--json"],
                          capture_output=True, text=True, cwd=root,
                          env={**BASE_ENV, "PYTHONPATH": str(root)})
    seconds = time.perf_counter() - start
    if json.loads(done.stdout or "{}").get("score") != 100:
        sys.exit(f"{submission.name} under {root} did not get full marks: {done.stderr[-500:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--against", type=Path, help="another checkout of the grader")
    args = parser.parse_args()
    roots = {"this checkout": ROOT, **({str(args.against): args.against} if args.against
                                       else {})}
    with tempfile.TemporaryDirectory() as tmp:
        files = {"py": Path(tmp) / "work.py", "ipynb": Path(tmp) / "work.ipynb"}
        files["py"].write_text(SOLUTION.read_text())
        files["ipynb"].write_text(json.dumps(notebook_of(SOLUTION.read_text())))
        print(f"notebook: {CELLS} cells, {files['ipynb'].stat().st_size >> 10} KiB with "
              "its outputs")
        seen = {(r, k): [] for r in roots for k in files}
        for _ in range(args.repeat):
            for (name, kind), times in seen.items():
                times.append(check(roots[name], files[kind]))
    for name in roots:
        py, nb = (statistics.median(seen[name, k]) for k in ("py", "ipynb"))
        print(f"{name:<28} .py {py:.3f} s  .ipynb {nb:.3f} s  = {nb / py:.2f}x")


if __name__ == "__main__":
    main()
