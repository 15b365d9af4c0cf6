# threat: fills the disk with many files, each under the per-file limit
# exercise: exp
# status: (error|failed)
# message: (more than \d+ MiB or \d+ files|No space left|Disk quota|Permission denied|Read-only)
import os


def exp_backward(dout, x):
    chunk = b"x" * ((1 << 20) - 4096)
    for i in range(100_000):
        with open(f"fill-{i}.bin", "wb") as f:
            f.write(chunk)
