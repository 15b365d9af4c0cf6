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

from grader.sandbox.runner import (Call, Limits, Outcome, SandboxRun, Zygote, run_submission,
                                   use_zygote)
from grader.sandbox.tiers import ConfinementError, Tier, current, private_paths, \
    require_protection

__all__ = ["Call", "ConfinementError", "Limits", "Outcome", "SandboxRun", "Tier", "Zygote",
           "current", "private_paths", "require_protection", "run_submission", "use_zygote"]
