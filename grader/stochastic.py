"""Random ops (dropout), judged as CS231n judges them.

The forward is random, so it is judged statistically: the fraction of entries it keeps, its
expectation, and its test mode exactly. The backward is judged against the numerical
gradient of the student's *own* forward at a fixed seed: the child evaluates that forward
at the case and at every input entry shifted by ±h (a small case: 2 calls per entry), and
the parent turns those outputs into the gradient the backward must return.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from grader import cases, diagnosis, judging
from grader.authoring import Op
from grader.exercises import Exercise
from grader.gradcheck import H
from grader.judging import CheckResult, fault_message
from grader.planning import Probe, ref, step, watched
from grader.sandbox import Call, Limits, Outcome

STATISTICAL_SIZE = (400, 50)  # 20,000 entries: a kept fraction within ±0.5 %
Z_LIMIT = 6.0  # a correct forward fails once in ~10⁹ runs


def _with(params: list, op: Op, **changes) -> list:
    """The parameters with entries of the stochastic dict parameter changed."""
    index = op.param_names.index(op.stochastic.param)
    out = list(params)
    out[index] = {**params[index], **changes}
    return out


def backward_probe(exercise: Exercise, check: str, inputs: list, params: list,
                   dout: np.ndarray, label: str) -> Probe:
    """The student's backward on the cache of their own forward, and that forward at every
    input entry shifted by ±h, all at one seed."""
    op = exercise.op
    arrays = [np.asarray(x, dtype=float) for x in inputs]
    holders, refs = watched(arrays)
    n = len(holders)
    program = holders + [step(exercise.spec["forward"], *refs, *params),
                         step(exercise.spec["function"], np.asarray(dout, dtype=float),
                               ref(n, 1)),
                         step(exercise.spec["forward"], *refs, *params)]
    grads = len(op.grad_inputs)
    returns = [(n + 1, k) for k in range(grads)] + [(n, 0), (n + 2, 0)]
    shifted = [(i, j) for i, (x, d) in enumerate(zip(arrays, op.differentiable)) if d
               for j in range(x.size)]
    for i, j in shifted:
        for sign in (1.0, -1.0):
            moved = [x.copy() for x in arrays]
            moved[i].reshape(-1)[j] += sign * H
            program.append(step(exercise.spec["forward"], *moved, *params))
            returns.append((len(program) - 1, 0))
    shapes = [x.shape for x, d in zip(arrays, op.differentiable) if d]

    def derive(outputs: list[np.ndarray]) -> list[np.ndarray]:
        out, again, *evaluations = outputs
        if out.shape != again.shape or not np.array_equal(out, again, equal_nan=True):
            raise ValueError(
                f"your {exercise.spec['forward']} gives different outputs for the same input "
                f"and the same {op.stochastic.param}[{op.stochastic.seed!r}]: seed numpy's "
                "generator with it, so that the backward can be checked against it")
        numeric = [np.zeros(s) for s in shapes]
        diff_index = {i: k for k, i in enumerate(
            i for i, d in enumerate(op.differentiable) if d)}
        for (i, j), plus, minus in zip(shifted, evaluations[0::2], evaluations[1::2]):
            if plus.shape != np.shape(dout) or minus.shape != np.shape(dout):
                raise ValueError(f"your {exercise.spec['forward']} returns an output of shape "
                                 f"{plus.shape}; expected {np.shape(dout)}")
            numeric[diff_index[i]].reshape(-1)[j] = float(
                np.sum(dout * (plus.astype(float) - minus.astype(float)))) / (2 * H)
        return numeric

    names = tuple(f"d{n}" for n in op.grad_inputs)
    call = Call(exercise.id, exercise.spec["function"], [], form="program", program=program,
                returns=returns, watch=[(i, 0) for i in range(n)])
    context = diagnosis.Context(op, arrays, list(params), np.asarray(dout), [],
                                exercise.reveal, names)  # truths: once derived (`finish`)
    return Probe(check, call, None, label, context, op.inputs + op.param_names, names,
                 op.grad_inputs, arrays, derive=derive)


def plan_backward(exercise: Exercise, rng: np.random.Generator) -> list[Probe]:
    op, checks = exercise.op, exercise.checks

    def case(label, zero=False):
        inputs, params = cases.draw_case(op, rng)
        params = _with(params, op, **{op.stochastic.seed: int(rng.integers(0, 2**31 - 1))})
        out = op.forward(*inputs, *params)
        dout = np.zeros(np.shape(out)) if zero else cases.upstream(np.shape(out), rng)
        return inputs, params, dout, label

    probes = [backward_probe(exercise, "values", *case(f"random case {i + 1}"))
              for i in range(3)]
    if "zero_upstream" in checks:
        probes.append(backward_probe(exercise, "zero_upstream", *case("zero upstream", True)))
    if "linear_upstream" in checks:
        inputs, params, d1, _ = case("linearity")
        d2 = cases.upstream(d1.shape, rng)
        for label, dout in (("upstream u", d1), ("upstream v", d2),
                            ("upstream 1.7u + -1.3v", 1.7 * d1 - 1.3 * d2)):
            probes.append(backward_probe(exercise, "linear_upstream", inputs, params, dout,
                                         label))
    return probes


def plan_forward(exercise: Exercise, rng: np.random.Generator) -> list[Probe]:
    """Large positive inputs in train mode (kept fraction, expectation) and in test mode."""
    op, spec = exercise.op, exercise.op.stochastic
    probes = []
    for i in range(2):
        _, params = cases.draw_case(op, rng)
        params = _with(params, op, **{spec.seed: int(rng.integers(0, 2**31 - 1))})
        x = rng.uniform(0.5, 2.5, size=STATISTICAL_SIZE)
        kept = float(spec.kept(x, *params))
        expected = {"kept": kept, "expectation": np.asarray(spec.expectation(x, *params))}
        call = Call(exercise.id, exercise.spec["function"], [], form="program",
                    program=[step(exercise.spec["function"], x, *params)], returns=[(0, 0)])
        for check in ("kept", "expectation"):
            if check in exercise.checks:
                probes.append(Probe(check, call, expected, f"train mode, {x.size} entries, "
                                    f"{_shown(params)}", None, op.inputs + op.param_names,
                                    ("out",), ("x",), [x]))
    if "test_mode" in exercise.checks or "outputs" in exercise.checks:
        inputs, params = cases.draw_case(op, rng)
        params = _with(params, op, **spec.test_mode)
        truth = np.asarray(spec.expectation(*inputs, *params), dtype=float)
        call = Call(exercise.id, exercise.spec["function"], [], form="program",
                    program=[step(exercise.spec["function"], *inputs, *params)],
                    returns=[(0, 0)])
        probes.append(Probe("test_mode", call, [truth], f"test mode, {_shown(params)}", None,
                            op.inputs + op.param_names, ("out",), ("x",), list(inputs)))
    return probes


def _shown(params: list) -> str:
    return ", ".join(f"{k}={v!r}" for p in params if isinstance(p, dict) for k, v in p.items())


def judge(exercise: Exercise, probes: list[Probe], outcomes: list[Outcome],
          limits: Limits) -> list[CheckResult]:
    """A stochastic op's exercise: statistics of its forward, or its backward against the
    student's own forward; the other checks as for any op."""
    statistical = [c for c in ("kept", "expectation") if c in exercise.checks]
    pairs = [finish(p, o) for p, o in zip(probes, outcomes)]
    others = replace(exercise, checks={k: w for k, w in exercise.checks.items()
                                       if k not in statistical})
    rest = [(p, o) for p, o in pairs if p.check not in statistical]
    judged = {r.name: r for r in judging.judge_arrays(others, [p for p, _ in rest],
                                                       [o for _, o in rest], limits)}
    for check in statistical:
        judged[check] = judge_statistics(check, exercise.checks[check],
                                         [(p, o) for p, o in pairs if p.check == check], limits)
    if "kept" in judged and not judged["kept"].passed and "expectation" in judged:
        judged["expectation"].hint = None  # the same mistake: said once, by `kept`
    return [judged[check] for check in exercise.checks]


def finish(probe: Probe, outcome: Outcome) -> tuple[Probe, Outcome]:
    """A backward probe whose truth comes from the student's own forward: with that truth,
    and the outcome cut to the backward's outputs (or a fault: why there is no truth)."""
    if probe.derive is None or outcome.status != "ok":
        return probe, outcome
    items = (outcome.output or {}).get("items", [])
    k = len(probe.output_names)
    extra = items[k:]
    forward = probe.call.program[len(probe.sent)]["function"]
    try:
        if len(items) < k or any("array" not in item for item in extra):
            raise ValueError(f"your {forward} returned no array output, so the backward "
                             "cannot be checked against it")
        expected = probe.derive([item["array"] for item in extra])
    except ValueError as e:  # the student's forward gives no truth: say so, as a fault
        return probe, replace(outcome, status="unjudgeable", error={"message": str(e)})
    output = {**outcome.output, "items": items[:k]}
    context = replace(probe.context, truths=expected) if probe.context else None
    return replace(probe, expected=expected, context=context), replace(outcome, output=output)


def judge_statistics(check: str, weight: float, pairs: list, limits: Limits) -> CheckResult:
    """Kept fraction or expectation of a train-mode forward, within Z_LIMIT standard errors."""
    for probe, outcome in pairs:
        if outcome.status != "ok":
            message = fault_message(outcome, limits, probe.call.function)
            return CheckResult(check, weight, False, f"{probe.label}: {message}", message)
        items = (outcome.output or {}).get("items", [])
        out = items[0].get("array") if items else None
        x = probe.sent[0]
        if out is None or out.shape != x.shape:
            hint = (f"the forward's output has shape {None if out is None else out.shape}; "
                    f"expected {x.shape}")
            return CheckResult(check, weight, False, f"{probe.label}: {hint}", hint)
        out = out.astype(float)
        if check == "kept":
            want, n = probe.expected["kept"], out.size
            got = float(np.count_nonzero(out)) / n
            z = abs(got - want) / math.sqrt(max(want * (1 - want), 1e-12) / n)
            hint = (f"your forward keeps {got:.3f} of the entries; expected {want:.3f} "
                    f"({_shown_param(probe)}): check which probability the parameter is "
                    "(keeping or dropping an entry)")
        else:
            truth = probe.expected["expectation"]
            spread = float(np.std(out - truth)) / math.sqrt(out.size)
            got, want = float(np.mean(out)), float(np.mean(truth))
            z = abs(got - want) / max(spread, 1e-12)
            hint = (f"the forward's output averages {got:.4g} where its expectation is "
                    f"{want:.4g}: the kept entries must be scaled so that the expectation "
                    "equals the input (inverted dropout divides by the keep probability)")
        if not z <= Z_LIMIT:
            return CheckResult(check, weight, False, f"{probe.label}: {hint}", hint)
    return CheckResult(check, weight, True)


def _shown_param(probe: Probe) -> str:
    return probe.label.split(", ", 2)[-1]
