"""Run a command on what looks like a kernel without Landlock (older kernels, or Landlock
left out of the boot's LSM list): its system calls fail with ENOSYS. Run as root, in front
of `runuser`, to give a non-root TA that kernel.

    python tests/environments/no_landlock.py COMMAND [ARG ...]
"""

import errno
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from grader.sandbox.child import seccomp  # noqa: E402

LANDLOCK_CALLS = ("landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self")


def main(argv: list[str]) -> None:
    rules = seccomp.Filter(no_new_privs=False)  # root may: runuser must still work
    for name in LANDLOCK_CALLS:
        rules.add(seccomp.errno_action(errno.ENOSYS), name)
    rules.load()
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main(sys.argv[1:])
