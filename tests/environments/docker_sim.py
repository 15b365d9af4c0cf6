"""Run a command as a default `docker run` would leave it: root, but only Docker's default
capability set (no CAP_SYS_ADMIN), under a seccomp filter that refuses new namespaces and
mounts as Docker's default profile does. This is how Gradescope and PrairieLearn run the
grader; the tests use it to check the `container` tier for real.

    python tests/environments/docker_sim.py COMMAND [ARG ...]
"""

import errno
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from grader.sandbox.child import seccomp  # noqa: E402

DOCKER_CAPS = ("chown", "dac_override", "fsetid", "fowner", "mknod", "net_raw", "setgid",
               "setuid", "setfcap", "setpcap", "net_bind_service", "sys_chroot", "kill",
               "audit_write")


def main(argv: list[str]) -> None:
    rules = seccomp.Filter(no_new_privs=False)  # Docker leaves no_new_privs off
    refuse = seccomp.errno_action(errno.EPERM)
    for name in ("unshare", "setns", "mount", "umount2", "pivot_root", "fsopen", "open_tree"):
        rules.add(refuse, name)
    for flag in seccomp.NAMESPACE_FLAGS:
        rules.add(refuse, "clone", (0, seccomp.CMP_MASKED_EQ, flag, flag))
    rules.add(seccomp.errno_action(errno.ENOSYS), "clone3")
    rules.load()
    caps = "-all," + ",".join("+" + c for c in DOCKER_CAPS)
    os.execvp("setpriv", ["setpriv", "--bounding-set", caps, "--inh-caps", "-all", "--", *argv])


if __name__ == "__main__":
    main(sys.argv[1:])
