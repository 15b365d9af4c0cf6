"""The trust boundary: student code runs only in a child process, confined as strongly as
the environment allows, and only raw arrays come back.

Parent side (the grader): `runner` (sessions, deadlines, the watchdog, decoding what comes
back), `tiers` (which confinement this environment allows, and each child's plan), `uids`
(a sandbox uid per grader). Child side, `child/` (copied to a read-only harness folder and
run there; it imports nothing of the grader): `harness` (import the submission, call it,
send raw outputs), `wire` (the frame format, shared by both sides), `jail` (rlimits and the
full tier's namespaces, before exec), `lockdown` with `landlock` and `seccomp` (the other
tiers' layers, after exec), `zygote` (the warm fork server of batch workers) and
`processes` (the process table, for teardown).
"""

import importlib

# Loaded on first use: `forkserver` and `tiers` must be importable without numpy (which
# `runner` imports), so that `backprop check` starts the fork server before loading it.
WHERE = {**dict.fromkeys(("Call", "Limits", "Outcome", "SandboxRun", "Zygote",
                          "run_submission", "use_zygote"), "runner"),
         **dict.fromkeys(("ConfinementError", "Tier", "current", "private_paths",
                          "require_protection"), "tiers")}


def __getattr__(name: str):
    if name not in WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"grader.sandbox.{WHERE[name]}"), name)


__all__ = sorted(WHERE)
