"""The composition exercise: a two-layer net (linear -> relu -> linear -> softmax_ce)
built from the student's own backward functions.

Each gate is first fed the reference upstream, so a mistake is charged to the gate that
made it; then the student's gates run chained, end to end, against a numerically checked
reference; then five SGD steps driven by the student's gradients (a small dataflow program
that the child runs, see child.run_program) must lower the loss, evaluated here.
"""

from __future__ import annotations

import numpy as np

from grader import cases
from grader.exercises import Exercise
from grader.gradcheck import REFERENCE_RTOL, CountingLoss, gradient_error
from grader.judging import CHECK_TITLES, CheckResult, fault_message, judge_values, unpack
from grader.planning import InternalError, Probe, gate_probe
from grader.sandbox import Call, Limits, Outcome

CHECK_TITLES.update({
    "softmax_ce": "your softmax_ce_backward inside the net (fed the true upstream)",
    "linear2": "your linear_backward for layer 2 (fed the true upstream)",
    "relu": "your relu_backward inside the net (fed the true upstream)",
    "linear1": "your linear_backward for layer 1 (fed the true upstream)",
    "end_to_end": "your gates chained end to end match the numerical gradient of the loss",
    "sgd": "a few SGD steps with your gradients lower the loss",
})


NET_PARAMS = ("W1", "b1", "W2", "b2")


def _net_forward(ops, x, y, w1, b1, w2, b2):
    """Reference forward (the pack's linear, relu and softmax_ce): every intermediate
    value, and the loss."""
    h1 = ops["linear"].forward(x, w1, b1)
    a1 = ops["relu"].forward(h1)
    s = ops["linear"].forward(a1, w2, b2)
    return h1, a1, s, float(ops["softmax_ce"].forward(s, y))


def _net_data(exercise: Exercise, rng: np.random.Generator):
    sizes = exercise.spec["sizes"]
    n, d, h, c = (sizes[k] for k in "NDHC")
    for _ in range(cases.MAX_RESAMPLES):
        x, y = rng.normal(size=(n, d)), rng.integers(0, c, size=n)
        weights = [rng.normal(size=(d, h)) / np.sqrt(d), rng.normal(size=h) * 0.1,
                   rng.normal(size=(h, c)) / np.sqrt(h), rng.normal(size=c) * 0.1]
        h1 = exercise.pack.ops["linear"].forward(x, *weights[:2])
        if exercise.pack.ops["relu"].kinks(h1) > cases.KINK_MARGIN:
            return x, y, weights
    raise InternalError("could not draw a network clear of ReLU kinks")


def _sgd_program(x, y, weights, steps: int, lr: float, names: dict) -> tuple[list, list]:
    """K steps of SGD as a dataflow of the student's gates and array steps."""
    program: list[dict] = []
    env = dict(zip(NET_PARAMS, weights))

    def add(op, *args, **extra):
        program.append({"op": op, "args": list(args), **extra})
        return {"ref": [len(program) - 1, 0]}

    def out(step_ref, index):
        return {"ref": [step_ref["ref"][0], index]}

    one = np.asarray(1.0)
    for _ in range(steps):
        h1 = add("add", add("matmul", x, env["W1"]), env["b1"])
        a1 = add("relu", h1)
        s = add("add", add("matmul", a1, env["W2"]), env["b2"])
        ds = add("call", one, s, y, function=names["softmax_ce"])
        lin2 = add("call", ds, a1, env["W2"], env["b2"], function=names["linear"])
        dh1 = add("call", out(lin2, 0), h1, function=names["relu"])
        lin1 = add("call", dh1, x, env["W1"], env["b1"], function=names["linear"])
        grads = {"W1": out(lin1, 1), "b1": out(lin1, 2), "W2": out(lin2, 1), "b2": out(lin2, 2)}
        for k in NET_PARAMS:
            env[k] = add("axpy", env[k], grads[k], -lr)
    return program, [tuple(env[k]["ref"]) for k in NET_PARAMS]


def plan_two_layer_net(exercise: Exercise, seed: int) -> list[Probe]:
    """Each gate is fed the true upstream, so a mistake is charged to the gate that made it;
    then the student's gates run chained, and drive a few SGD steps."""
    rng = cases.rng_for(seed, exercise.id)
    names = exercise.spec["functions"]
    ops = exercise.pack.ops
    x, y, (w1, b1, w2, b2) = _net_data(exercise, rng)
    h1, a1, s, _ = _net_forward(ops, x, y, w1, b1, w2, b2)
    one = np.asarray(1.0)
    (ds,) = ops["softmax_ce"].grads(one, s, y)
    da1, dw2, db2 = ops["linear"].grads(ds, a1, w2, b2)
    (dh1,) = ops["relu"].grads(da1, h1)
    dx, dw1, db1 = ops["linear"].grads(dh1, x, w1, b1)
    probes = [
        gate_probe(exercise, "softmax_ce", [s, y], [], one, "the loss gate", rng,
                    ops["softmax_ce"], names["softmax_ce"]),
        gate_probe(exercise, "linear2", [a1, w2, b2], [], ds, "layer 2", rng, ops["linear"],
                    names["linear"]),
        gate_probe(exercise, "relu", [h1], [], da1, "the ReLU", rng, ops["relu"],
                    names["relu"]),
        gate_probe(exercise, "linear1", [x, w1, b1], [], dh1, "layer 1", rng, ops["linear"],
                    names["linear"])]
    chain, _ = _sgd_program(x, y, [w1, b1, w2, b2], 1, 0.0, names)
    end_to_end = Call(exercise.id, names["linear"], [], form="program", program=chain[:9],
                      returns=[(8, 1), (8, 2), (6, 1), (6, 2), (8, 0)])
    expected = [dw1, db1, dw2, db2, dx]
    loss = CountingLoss(lambda *p: np.asarray(_net_forward(ops, p[4], y, *p[:4])[3]), one)
    if gradient_error(loss, [w1, b1, w2, b2, x], expected, rng) > REFERENCE_RTOL:
        raise InternalError("the reference network gradient disagrees with the numbers")
    probes.append(Probe("end_to_end", end_to_end, expected, "the whole net, your gates chained",
                        output_names=("dW1", "db1", "dW2", "db2", "dx")))
    sgd = exercise.spec["sgd"]
    program, returns = _sgd_program(x, y, [w1, b1, w2, b2], sgd["steps"],
                                    sgd["learning_rate"], names)
    before = _net_forward(ops, x, y, w1, b1, w2, b2)[3]
    probes.append(Probe("sgd", Call(exercise.id, names["linear"], [], form="program",
                                    program=program, returns=returns),
                        {"loss_before": before, "data": (x, y)},
                        f"{sgd['steps']} SGD steps", output_names=NET_PARAMS))
    return probes


def judge_two_layer_net(exercise: Exercise, probes: list[Probe], outcomes: list[Outcome],
                       limits: Limits) -> list[CheckResult]:
    pairs = {p.check: (p, o) for p, o in zip(probes, outcomes)}
    unpacked = {id(p): unpack(p, o) if o.status == "ok" and p.check != "sgd" else (None, None)
                for p, o in zip(probes, outcomes)}
    gates = tuple(dict.fromkeys(p.context.gate for p in probes if p.context is not None))
    results = []
    blocked = _blocked(probes, outcomes, unpacked)
    for check, weight in exercise.checks.items():
        if check in ("sgd", "end_to_end") and blocked:
            result = CheckResult(check, weight, False, blocked, blocked)
        elif check == "sgd":
            result = _judge_sgd(exercise, weight, *pairs["sgd"], limits)
        else:
            result = judge_values(check, weight, [pairs[check]], unpacked, limits,
                                  exercise.tolerance)
        if check in ("sgd", "end_to_end"):
            result.depends_on = gates  # the whole chain: every gate's mistakes show here
        else:
            gate = pairs[check][0].context.gate
            result.depends_on = (gate,)
            status = pairs[check][1].status  # not implemented, missing, crashed...
            if not result.passed and (status == "ok" or status == "raised" and
                                      result.hint != "not implemented yet"):
                where = "in the net, " if status == "ok" else ""
                result.hint, *result.more_hints = [
                    f"{where}{hint} (fix the {gate} exercise first)" for hint in result.hints]
        results.append(result)
    return _as_consequence(results)


CONSEQUENCE = ("your gates chained give wrong gradients too, as the gate checks above "
               "predict: fix those first")


def _as_consequence(results: list[CheckResult]) -> list[CheckResult]:
    """A wrong chain where a gate is already wrong says so once, instead of describing
    each wrong output of the whole net."""
    gate_failed = any(not r.passed for r in results if r.name not in ("end_to_end", "sgd"))
    for r in results:
        # (a chain that never ran, blocked by a gate, has no case and keeps its reason)
        if r.name == "end_to_end" and not r.passed and gate_failed and r.case is not None:
            r.hint, r.more_hints = CONSEQUENCE, []
    return results


def _blocked(probes: list[Probe], outcomes: list[Outcome], unpacked: dict) -> str | None:
    """Why the chained net cannot run: a gate that is missing, raised or returned the wrong
    form on its own (said once, by that gate's check, instead of the chain's echo of it)."""
    for probe, outcome in zip(probes, outcomes):
        if (outcome.error or {}).get("type") == "NotImplementedError":
            return "not implemented yet"  # a stub: the same words as the gate's own check
        if probe.context is not None and (outcome.status != "ok" or unpacked[id(probe)][1]):
            return (f"not run: the net chains every gate, and {probe.call.function} gave no "
                    f"usable answer (see \"{CHECK_TITLES[probe.check]}\")")
    return None


def _judge_sgd(exercise: Exercise, weight: float, probe: Probe, outcome: Outcome,
               limits: Limits) -> CheckResult:
    if outcome.status != "ok":
        message = fault_message(outcome, limits, probe.call.function)
        return CheckResult("sgd", weight, False, message, message)
    items = outcome.output.get("items", [])
    arrays = [i.get("array") for i in items]
    if len(arrays) != 4 or any(a is None for a in arrays):
        hint = "the SGD steps did not produce weights (a gate returned something odd)"
        return CheckResult("sgd", weight, False, hint, hint)
    x, y = probe.expected["data"]
    try:
        with np.errstate(all="ignore"):
            after = _net_forward(exercise.pack.ops, x, y, *[a.astype(float) for a in arrays])[3]
    except ValueError:
        after = float("nan")
    before = probe.expected["loss_before"]
    if not np.isfinite(after) or after >= before * 0.99:
        hint = (f"after {probe.label.split()[0]} SGD steps (w -= lr * dw, made by the grader "
                f"with your gradients) the loss went from {before:.4f} to {after:.4f}: your "
                "gradients do not point downhill; the gate checks above say which is off")
        return CheckResult("sgd", weight, False, hint, hint)
    return CheckResult("sgd", weight, True, f"loss {before:.4f} → {after:.4f}")
