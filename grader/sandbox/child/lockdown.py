"""What the sandboxed child does to itself after it starts and before it imports the
submission (standard library only: it runs in the child).

The grader decides the plan (`tiers.py`); the child carries it out and reports the layers
it really put in place, before any student code has run. A layer the plan requires that
fails raises `LockdownError`: the child then stops without importing the submission and
the grader refuses to grade rather than grade unprotected.

Order matters: user namespaces first (they need the freedom the later layers take away),
no_new_privs, Landlock, the uid drop (it needs CAP_SETUID, which seccomp does not touch),
and seccomp last (it forbids unshare).
"""

import ctypes
import os
import sys

try:
    from . import landlock, seccomp
    from .jail import CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWUSER, limit_resources, resource
except ImportError:  # run as a script from the harness folder
    import landlock
    import seccomp
    from jail import CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWUSER, limit_resources, resource


class LockdownError(RuntimeError):
    """A required layer of confinement could not be put in place."""


def _unshare(flags):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(flags) != 0:
        raise OSError(ctypes.get_errno(), "unshare")


def _private_namespaces():
    """Without privilege: a user namespace, which allows private network and IPC."""
    try:
        _unshare(CLONE_NEWUSER)
        _unshare(CLONE_NEWNET | CLONE_NEWIPC)
        return True
    except OSError:
        return False


def _drop(uid):
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (uid, uid, uid):
        raise LockdownError("the uid drop did not hold")


def apply(plan):
    """Carry out `plan` (a dict from the grader); return the layers now in force."""
    layers = []
    if plan.get("version") and plan["version"] != sys.version:
        raise LockdownError(f"the sandbox runs Python {sys.version.split()[0]}, not the "
                            f"grader's {plan['version'].split()[0]}")
    if plan.get("rlimits"):  # the portable path: nothing ran between fork and exec
        limit_resources(plan["rlimits"])
        layers.append("resource limits" if resource else "no resource limits on this OS")
    if plan.get("userns") and _private_namespaces():
        layers += ["private network", "private IPC"]
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
    rules = plan.get("landlock")
    if rules:
        try:
            abi = landlock.restrict(rules["read"], rules["write"], rules["devices"])
        except OSError as e:
            raise LockdownError(f"Landlock: {e}") from None
        layers.append(f"Landlock ABI {abi}" + (" (signals scoped)" if abi >= 6 else ""))
    if plan.get("uid") is not None:
        try:
            _drop(plan["uid"])
        except OSError as e:
            raise LockdownError(f"cannot become uid {plan['uid']}: {e}") from None
        layers.append(f"uid {plan['uid']}")
    rules = plan.get("seccomp")
    if rules is not None:
        try:
            seccomp.child_filter(signals_outside=rules["signals"]).load()
        except OSError as e:
            raise LockdownError(f"seccomp: {e}") from None
        layers.append("seccomp")
    return layers
