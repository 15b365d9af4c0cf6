"""Parsing a .py full of syntax errors: bytes parsed and seconds, against a file that parses.

    python benchmarks/broken_blocks.py [--blocks 150000] [--check]

`submissions.without_broken_blocks` leaves each broken top-level block of a .py out. The
script gives it a file of N broken one-line blocks (the issue's 430 KB file had 20 000;
150 000 make 2 MB), a file of the same size that parses, and the course's solution with
one broken function, and prints for each the bytes parsed (counted) as a multiple of the
file's size, and the seconds; then the ratio of the broken file's seconds to the valid
one's. Before pieces, each broken block re-parsed the whole file: N + 1 times its size,
printed for comparison. With --check the files are also graded end to end (`grade`, the
sandbox included) and the ratio of the broken file to the valid one is printed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's grader, not one installed elsewhere

from grader import submissions  # noqa: E402
from grader.grading import grade  # noqa: E402

SOLUTION = ROOT / "tests" / "submissions" / "solution.py"
MUL = b"def mul_backward(dout, x, y):\n    return dout * y, dout * x\n"


def files(blocks: int) -> dict[str, bytes]:
    broken = b"".join(b"def f%06d(:\n" % i for i in range(blocks)) + MUL
    valid = b"".join(b"def f%06d(x): 1\n" % i for i in range(blocks * len(broken) // (
        16 * blocks))) + MUL
    ordinary = SOLUTION.read_bytes().replace(b"def relu_backward(dout, x):",
                                             b"def relu_backward(dout, x)", 1)
    return {f"{blocks} broken blocks": broken, "a file as big that parses": valid,
            "the solution, one broken function": ordinary}


def parse(data: bytes) -> tuple[int, float, int]:
    """(bytes parsed, seconds, blocks left out) for `without_broken_blocks`."""
    parsed = [len(data)]  # its first parse, of the whole file
    parse_error = submissions._parse_error

    def counted(piece):
        parsed.append(len(piece.text))
        return parse_error(piece)

    submissions._parse_error = counted
    try:
        start = time.perf_counter()
        _, left_out = submissions.without_broken_blocks(data)
        return sum(parsed), time.perf_counter() - start, len(left_out)
    finally:
        submissions._parse_error = parse_error


def graded(data: bytes) -> float:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "backprop.py"
        path.write_bytes(data)
        start = time.perf_counter()
        grade(path)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=150_000)
    parser.add_argument("--check", action="store_true", help="also grade each file")
    args = parser.parse_args()
    seconds = {}
    print(f"{'file':<36}{'bytes':>10}{'left out':>10}{'parsed (x size)':>17}"
          f"{'before (x size)':>17}{'seconds':>9}")
    for name, data in files(args.blocks).items():
        parsed, seconds[name], left_out = parse(data)
        print(f"{name:<36}{len(data):>10}{left_out:>10}{parsed / len(data):>17.2f}"
              f"{left_out + 1:>17}{seconds[name]:>9.3f}")
    broken, valid, ordinary = seconds
    print(f"ratio broken/valid: {seconds[broken] / seconds[valid]:.2f}x the seconds of a "
          "file as big that parses")
    if args.check:
        times = {name: graded(data) for name, data in files(args.blocks).items()}
        print(f"graded end to end: {times[broken]:.1f} s broken, {times[valid]:.1f} s as big "
              f"and parsing, {times[ordinary]:.1f} s the solution; ratio broken/valid: "
              f"{times[broken] / times[valid]:.2f}x")


if __name__ == "__main__":
    main()
