"""Judge what came back from the sandbox against the planned probes: one CheckResult per
check, each passing only when all of its probes do; hints come from `diagnosis`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import numpy as np

from grader import diagnosis
from grader.exercises import Exercise, Tolerance
from grader.planning import Probe
from grader.sandbox import Limits, Outcome
from grader.authoring import Op
from reference.graph import topological_order

CHECK_TITLES = {
    "outputs": "returns the right number of arrays, with the right shapes and dtypes",
    "values": "matches the true gradient on random cases",
    "zero_upstream": "a zero upstream gradient gives zero",
    "linear_upstream": "is linear in the upstream gradient",
    "untouched": "leaves its arguments untouched",
    "scalar": "works on 0-d (scalar) arrays",
    "extreme": "stays accurate on extreme inputs",
    "chain": "a simple chain",
    "fan_out": "sums the gradients of every path at fan-out",
    "shuffled": "works whatever the order of the nodes",
    "unreachable": "gives 0 to nodes that do not reach the output",
    "repeated_input": "counts an input used twice by one node twice",
    "deep_chain": "handles a chain of thousands of nodes",
    "state": "updates its state (running averages) as the reference does",
    "kept": "keeps the right fraction of entries (train mode)",
    "expectation": "keeps the expectation of its input (train mode)",
    "test_mode": "gives the test-mode output (after training, for a stateful op)",
}


@dataclass
class CheckResult:
    """One named check of an exercise: passed or not, with what the student should know."""

    name: str
    weight: float
    passed: bool
    message: str = ""
    hint: str | None = None
    depends_on: tuple[str, ...] = ()  # exercises whose gates this check runs (composition)
    case: Probe | None = None  # the call a failed check is about (`cases.save_failing`)
    more_hints: list[str] = field(default_factory=list)  # other wrong outputs, one each

    @property
    def title(self) -> str:
        return CHECK_TITLES.get(self.name, self.name)

    @property
    def hints(self) -> list[str]:
        """Every hint of this check: the first wrong output's, then each other's."""
        return ([self.hint] if self.hint else []) + self.more_hints


def kind_of(hint: str | None) -> str:
    """A hint with its numbers masked: the same message about another case."""
    return re.sub(r"[-+]?\d[\d.e+-]*", "#", hint or "")


def incidents(outcomes: list[Outcome]) -> list[str]:
    """What went wrong beyond wrong numbers, for the class summary."""
    found = set()
    for o in outcomes:
        if o.status in ("timeout", "crashed"):
            found.add(o.status)
        elif o.status == "bad_result":
            found.add("tamper")  # a forged or malformed result frame
        error = o.error or {}
        if error.get("forbidden"):
            found.add("forbidden")
        if o.status == "raised" and error.get("type") == "MemoryError":
            found.add("memory")  # stopped by its memory limit inside the process
        if o.status == "raised" and error.get("type") == "PermissionError":
            found.add("denied")  # tried something the sandbox does not allow
    return sorted(found)


def private_import_message(error: dict) -> str:
    """The same words wherever a submission imports the grader's own packages."""
    return (f"imports {error['private']}, the grader's own package: it is not available to "
            "submissions (in the official run neither); write the forward computations you "
            "need in your own file")


def fault_message(outcome: Outcome, limits: Limits, function: str,
                  gate: Op | None = None) -> str:
    """What went wrong with a call that returned nothing usable; `gate` (when the call is
    a gate's backward) lets a failed matrix product say what fits that gate."""
    error = outcome.error or {}
    if outcome.status == "timeout":
        return error.get("message") or f"timed out after {limits.exercise_seconds:g} s"
    if outcome.status == "missing":
        return error.get("message") or f"the submission defines no {function}"
    if outcome.status == "raised":
        kind, message = error.get("type", "Exception"), error.get("message", "")
        if kind == "NotImplementedError":
            return "not implemented yet"
        if error.get("private"):
            return private_import_message(error)
        if error.get("forbidden"):
            return (f"imports {error['forbidden']}, which this course forbids: no points for "
                    "this exercise; compute the gradients with numpy")
        if kind in ("SystemExit", "KeyboardInterrupt"):
            return (f"stopped with {kind} instead of returning: a gate function must return "
                    "its gradients (remove exit() and input())")
        if kind == "MemoryError":
            return f"exceeded the {limits.memory_bytes / 2**30:g} GiB memory limit (MemoryError)"
        where = ""
        if error.get("line"):
            where = f" at {error.get('where') or 'line ' + str(error['line'])}" + (
                f" in {error['function']}" if error.get("function") else "")
            if error.get("text"):
                where += f": {error['text']}"
        if kind == "ValueError" and message.startswith("matmul:"):
            message = ("`@` is the matrix product and these shapes do not chain "
                       f"({message.split(':', 1)[1].strip()[:80]}…)" + _matmul_advice(gate))
        return f"raised {kind}: {message}{where}" if message else f"raised {kind}{where}"
    if outcome.status == "bad_result":
        return f"sent back something the grader cannot read ({error.get('message', '')})"
    return error.get("message") or outcome.status.replace("_", " ")


def _matmul_advice(gate: Op | None) -> str:
    """What a failed `@` means in this gate: a wrong operand order or transpose, or `@`
    where an elementwise gate multiplies entries."""
    if gate is not None and gate.matmul:
        return f"; {gate.matmul}"
    if gate is not None and gate.elementwise:
        return "; an elementwise gate multiplies with `*`"
    return ""


# The array methods (.max, .all), not np.max and np.all: the same reductions without
# numpy's dispatch, which costs more than the work on arrays this small.
def tolerance_array(t: np.ndarray, tol: Tolerance) -> np.ndarray:
    size = np.abs(t)
    return tol.atol * float(size.max(initial=0.0)) + tol.rtol * size + 1e-12


def within(s: np.ndarray, t: np.ndarray, tol: Tolerance) -> bool:
    return bool(np.isfinite(s).all() and (np.abs(s - t) <= tolerance_array(t, tol)).all())


def _output_names(probe: Probe) -> list[str]:
    return list(probe.output_names)


def unpack(probe: Probe, outcome: Outcome) -> tuple[list[np.ndarray] | None, str | None]:
    """The student's arrays in order, or what is wrong with their form."""
    want = len(probe.expected)
    names = _output_names(probe)
    out = outcome.output or {}
    items = out.get("items", [])
    if out.get("container") == "single" and items and items[0].get("invalid") == "NoneType":
        return None, ("returned None: is the `return` statement missing? expected "
                      + (f"a tuple of {want} ({', '.join(names)})" if want > 1 else
                         f"{names[0]}, a numpy array"))
    if out.get("container") == "single" and want > 1:
        return None, (f"returned a single value; expected a tuple of {want} "
                      f"({', '.join(names)})")
    if len(items) != want:
        return None, f"returned {len(items)} values; expected {want} ({', '.join(names)})"
    arrays = []
    for name, item in zip(names, items):
        if "array" not in item:
            return None, f"{name} is a {item.get('invalid')}; expected a numpy array"
        arrays.append(item["array"])
    return arrays, None


def _owners(probe: Probe) -> list[str]:
    """What each output is the gradient of (its shape must be that one's)."""
    return list(probe.owners) or [name[1:] for name in probe.output_names]


def _form_problem(probe: Probe, arrays: list[np.ndarray]) -> str | None:
    """Count is right; now dtypes and shapes."""
    owners = _owners(probe)
    for name, owner, s, t in zip(_output_names(probe), owners, arrays, probe.expected):
        if s.dtype.kind not in "biuf":
            return f"{name} has dtype {s.dtype}; expected a real floating-point array"
        if s.shape != t.shape:
            return diagnosis.shape_hint(name, s.shape, t.shape, owner)
    return None


Wrong = tuple[str, list[str], str]  # (output name, what explains it, the plain facts)


def _compare_arrays(probe: Probe, arrays: list[np.ndarray], tol: Tolerance) -> list[Wrong]:
    """Every output that does not match: what explains it on this case, and where and by
    how much it is wrong (what is said when the cases share no explanation)."""
    names = _output_names(probe)
    owners = _owners(probe)
    wrong = []
    for k, (name, s, t) in enumerate(zip(names, arrays, probe.expected)):
        s = s.astype(float)
        if within(s, t, tol):
            continue
        plain = diagnosis.where_wrong(name, s, t, tolerance_array(t, tol))
        if probe.context is None and name == "J":
            hints = [diagnosis.jacobian_hint(s, t, tolerance_array(t, tol), probe.call.args[0],
                                             probe.mistakes)]
        elif probe.context is None:
            hints = []
        else:
            hints = diagnosis.explanations(name, owners[k], s, t, probe.context, names)
        wrong.append((name, hints, plain))
    return wrong


def judge_arrays(exercise: Exercise, probes: list[Probe], outcomes: list[Outcome],
                 limits: Limits) -> list[CheckResult]:
    """Checks of gate and function exercises."""
    by_check: dict[str, list[tuple[Probe, Outcome]]] = {}
    split = [_split_forward(p, o) for p, o in zip(probes, outcomes)]
    outcomes = [o for o, _ in split]
    for probe, outcome in zip(probes, outcomes):
        by_check.setdefault(probe.check, []).append((probe, outcome))
    unpacked = {id(p): unpack(p, o) if o.status == "ok" else (None, None)
                for p, o in zip(probes, outcomes)}
    forward_wrong = next((p.call.program[len(p.sent)]["function"]
                          for p, (_, wrong) in zip(probes, split) if wrong), None)
    main = by_check.get("values") or by_check.get("test_mode", [])  # (a random forward's)
    placeholder = _placeholder(main, unpacked)
    if placeholder:  # zeros pass the structural checks vacuously: no credit at all
        return [CheckResult(check, weight, False, placeholder, placeholder)
                for check, weight in exercise.checks.items()]
    results = []
    for check, weight in exercise.checks.items():
        if check == "outputs":
            results.append(_judge_form(weight, main, unpacked, limits))
        elif check == "untouched":
            results.append(_judge_untouched(weight, list(zip(probes, outcomes)), unpacked))
        elif check == "linear_upstream":
            results.append(_judge_linearity(weight, by_check[check], unpacked, exercise, limits))
        elif check == "zero_upstream":
            results.append(judge_values(check, weight, by_check[check], unpacked, limits,
                                        Tolerance(0.0, 0.0)))
        else:
            results.append(judge_values(check, weight, by_check[check], unpacked, limits,
                                        exercise.tolerance))
    if forward_wrong:  # the cache came from a wrong forward: that is where to start
        for result in results:
            if not result.passed and result.hint:
                result.hint += (f" (your {forward_wrong} returns a wrong output on these "
                                "inputs, and this backward works from its cache: fix "
                                f"{forward_wrong} first)")
                break
    return results


def _split_forward(probe: Probe, outcome: Outcome) -> tuple[Outcome, bool]:
    """A cache-convention call sends back the forward's output after the gradients: the
    outcome without it, and whether it was wrong."""
    if probe.forward_out is None or outcome.status != "ok":
        return outcome, False
    items = (outcome.output or {}).get("items", [])
    k = len(probe.output_names)
    out = items[k].get("array") if len(items) > k else None
    wrong = out is None or out.shape != probe.forward_out.shape or not within(
        out.astype(float), probe.forward_out, Tolerance(1e-6, 1e-8))
    return replace(outcome, output={**outcome.output, "items": items[:k]}), wrong


def _placeholder(pairs, unpacked) -> str | None:
    """A hint when every answer is zero where the true gradient is not."""
    answers = [(p, unpacked[id(p)][0]) for p, _ in pairs]
    if not answers or any(arrays is None for _, arrays in answers):
        return None
    for probe, arrays in answers:
        if any(a.shape != t.shape or a.dtype.kind not in "biuf" or np.any(a)
               for a, t in zip(arrays, probe.expected)) or \
                not any(np.any(t) for t in probe.expected):
            return None
    names = _output_names(answers[0][0])
    every = ", and so is every other output," if len(names) > 1 else ""
    return (f"{names[0]} is zero everywhere{every} though the true gradient is not: no "
            "gradient flows (an answer of zeros earns no points)")


def called_as(probe: Probe) -> str:
    """The call the grader made, in the student's terms: each argument's shape and dtype,
    and the value of a small one (students rarely expect 3-d and 0-d arrays). Made once
    per probe: numpy's printing is slow, and every check that a crash fails names it."""
    if probe.called_as is None:
        probe.called_as = _called_as(probe)
    return probe.called_as


def _called_as(probe: Probe) -> str:
    call = probe.call
    if call.form == "program" or not call.args or len(probe.arg_names) != len(call.args):
        return ""
    parts = []
    for name, value in zip(probe.arg_names, call.args):
        if isinstance(value, np.ndarray):
            shown = f" = {np.array2string(value, precision=4)}" if value.size <= 4 else ""
            parts.append(f"{name}: shape {value.shape} {value.dtype}{shown}")
        else:
            parts.append(f"{name} = {value!r}")
    return f" [called {call.function}({', '.join(parts)})]"


def _first_fault(check, weight, pairs, unpacked, limits) -> CheckResult | None:
    """The failed check for the first call that crashed or returned something unusable."""
    for probe, outcome in pairs:
        if outcome.status != "ok":
            message = fault_message(outcome, limits, probe.call.function,
                                    probe.context and probe.context.op)
            crashed = outcome.status == "raised" and message != "not implemented yet"
            return CheckResult(check, weight, False, f"{probe.label}: {message}"
                               f"{called_as(probe)}",
                               message + (called_as(probe) if crashed else ""), case=probe)
        arrays, problem = unpacked[id(probe)]
        if problem:
            return CheckResult(check, weight, False, f"{probe.label}: {problem}"
                               f"{called_as(probe)}", problem, case=probe)
    return None


def _form_failure(check, weight, probe, arrays) -> CheckResult | None:
    problem = _form_problem(probe, arrays)
    if problem:
        # a gate's hint names its arguments' shapes; other calls (relu's Jacobian at an x of
        # length 1, a graph) have only the label to say which shape was expected and why
        hint = problem if probe.context else f"{probe.label}: {problem}"
        return CheckResult(check, weight, False, f"{probe.label}: {problem}", hint,
                           case=probe)
    return None


def _judge_form(weight, pairs, unpacked, limits) -> CheckResult:
    fault = _first_fault("outputs", weight, pairs, unpacked, limits)
    if fault:
        return fault
    for probe, _ in pairs:
        arrays, _ = unpacked[id(probe)]
        failure = _form_failure("outputs", weight, probe, arrays)
        if failure:
            return failure
        bad = [n for n, s in zip(_output_names(probe), arrays) if not np.all(np.isfinite(s))]
        if bad:
            message = f"{bad[0]} contains nan or inf"
            return CheckResult("outputs", weight, False, f"{probe.label}: {message}", message,
                               case=probe)
    return CheckResult("outputs", weight, True)


def judge_values(check, weight, pairs, unpacked, limits, tol) -> CheckResult:
    fault = _first_fault(check, weight, pairs, unpacked, limits)
    if fault:
        return fault
    failed = []
    for probe, _ in pairs:
        arrays, _ = unpacked[id(probe)]
        failure = _form_failure(check, weight, probe, arrays)
        if failure:
            return failure
        wrong = _compare_arrays(probe, arrays, tol)
        if wrong:
            failed.append((probe, arrays, wrong))
    if not failed:
        return CheckResult(check, weight, True)
    # A case of single numbers proves no pattern: the larger cases speak.
    telling = [f for f in failed if any(np.size(a) > 1 for a in f[1])] or failed
    probe = telling[0][0]
    if check == "zero_upstream":
        hints = ["a zero upstream gradient must give a zero gradient: multiply the local "
                 "gradient by dout"]
    else:
        hints = _unanimous([wrong for *_, wrong in telling])
    message = "; ".join(f"{probe.label}: {h}" for h in hints)
    return CheckResult(check, weight, False, message + called_as(probe), hints[0], case=probe,
                       more_hints=hints[1:])


def _unanimous(cases: list[list[Wrong]]) -> list[str]:
    """One hint per wrong output: the first explanation that every case where it is wrong
    shares (numbers aside), else only the facts of the first such case."""
    by_output: dict[str, list[Wrong]] = {}
    for wrong in cases:
        for item in wrong:
            by_output.setdefault(item[0], []).append(item)
    hints = []
    for items in by_output.values():
        shared = set.intersection(*({kind_of(h) for h in hints_} for _, hints_, _ in items))
        agreed = [h for h in items[0][1] if kind_of(h) in shared]
        hints.append(agreed[0] if agreed else items[0][2])
    return hints


def _judge_linearity(weight, pairs, unpacked, exercise, limits) -> CheckResult:
    fault = _first_fault("linear_upstream", weight, pairs, unpacked, limits)
    if fault:
        return fault
    results = [unpacked[id(p)][0] for p, _ in pairs]
    if any(_form_problem(p, r) for (p, _), r in zip(pairs, results)):
        return CheckResult("linear_upstream", weight, False, "outputs have the wrong form")
    (p1, _), (p2, _), (p3, _) = pairs
    for k, name in enumerate(_output_names(p1)):
        s1, s2, s3 = (r[k].astype(float) for r in results)
        with np.errstate(all="ignore"):
            combo = 1.7 * s1 - 1.3 * s2
        t3 = p3.expected[k]
        if not within(s3, combo, exercise.tolerance) and not within(s3, t3, exercise.tolerance):
            hint = (f"{name} is not linear in the upstream gradient: backward(a·u + b·v) must "
                    "equal a·backward(u) + b·backward(v); compute dout * local gradient, with "
                    "no mask or clamp taken from dout")
            return CheckResult("linear_upstream", weight, False, hint, hint)
        if not within(s3, combo, exercise.tolerance):
            hint = f"{name} is not linear in the upstream gradient"
            return CheckResult("linear_upstream", weight, False, hint, hint)
    return CheckResult("linear_upstream", weight, True)


def _same_values(a: np.ndarray, b: np.ndarray) -> bool:
    """np.array_equal(a, b, equal_nan=True) of arrays of one shape, at the cost of a bytes
    comparison when they are identical (the usual case: an argument left untouched)."""
    return (a.dtype == b.dtype and a.tobytes() == b.tobytes()) or \
        np.array_equal(a, b, equal_nan=True)


def _judge_untouched(weight, pairs, unpacked) -> CheckResult:
    answered = [(p, o) for p, o in pairs if unpacked[id(p)][0] is not None]
    for probe, outcome in answered:
        if outcome.args_after is None:
            continue
        sent = probe.sent if probe.sent is not None else \
            [a for a in probe.call.args if isinstance(a, np.ndarray)]
        for name, before, after in zip(probe.arg_names, sent, outcome.args_after):
            if after is None or after.shape != before.shape or not _same_values(after, before):
                hint = (f"{probe.call.function} changed its argument {name} in place: "
                        f"compute new arrays (an expression such as dout * local, or "
                        f"{name}.copy() first) instead of writing into {name}")
                return CheckResult("untouched", weight, False, f"{probe.label}: {hint}", hint,
                                   case=probe)
    if not answered:
        return CheckResult("untouched", weight, False,
                           "never returned a usable answer, so nothing to check")
    return CheckResult("untouched", weight, True)


def judge_backprop(exercise: Exercise, probes: list[Probe], outcomes: list[Outcome],
                   limits: Limits) -> list[CheckResult]:
    """Checks of the general backprop exercise: one graph per check, dicts of numbers."""
    results, form_problems, plain_said = [], [], False
    for probe, outcome in zip(probes, outcomes):
        ok, message, hint, form = _compare_dict(probe, outcome, exercise.tolerance, limits)
        if form:
            form_problems.append((probe, message, hint))
        # One line per kind of mistake: the form is said once (by `outputs`, which speaks
        # for every graph but the deep chain's recursion), and so is a plain "dx is 0;
        # expected 1.2" that every graph would repeat of another node.
        plain = hint is not None and PLAIN_NUMBER.match(hint) is not None
        said = (form and "outputs" in exercise.checks and probe.check != "deep_chain") or \
            (plain and plain_said)
        plain_said |= plain
        results.append(CheckResult(probe.check, exercise.checks[probe.check], ok, message,
                                   None if said else hint))
    by_name = {r.name: r for r in results}
    shuffled, fan_out = by_name.get("shuffled"), by_name.get("fan_out")
    if shuffled and fan_out and fan_out.passed and not shuffled.passed and \
            not any(p.check == "shuffled" for p, _, _ in form_problems):
        shuffled.hint = ("right when the nodes come in topological order, wrong otherwise: "
                         "sort the nodes topologically first")
    if "outputs" in exercise.checks:
        # A recursion limit on the deep chain is that check's business, not the form's.
        bad = next((p for p in form_problems if p[0].check != "deep_chain"), None)
        results.insert(0, CheckResult("outputs", exercise.checks["outputs"], bad is None,
                                      bad[1] if bad else "", bad[2] if bad else None))
    return results


PLAIN_NUMBER = re.compile(r"d\S+ is \S+; expected \S+$")  # `_dict_hint` with no diagnosis


def _compare_dict(probe, outcome, tol, limits) -> tuple[bool, str, str | None, bool]:
    """(passed, message, hint, whether the problem is the answer's form, not its numbers)."""
    if outcome.status != "ok":
        message = fault_message(outcome, limits, probe.call.function)
        if (outcome.error or {}).get("type") == "RecursionError":
            message += (": traverse the graph iteratively (an explicit stack or Kahn's "
                        "algorithm), not by recursion")
        return False, f"{probe.label}: {message}", message, True
    got = outcome.output.get("dict")
    if got is None:
        hint = f"returned a {outcome.output.get('container')}; expected a dict of gradients"
        return False, f"{probe.label}: {hint}", hint, True
    bad = outcome.output.get("bad", {})
    if bad:
        key = next(iter(bad))
        hint = f"returned a {bad[key]} for {key!r}; expected a number"
        return False, f"{probe.label}: {hint}", hint, True
    missing = [k for k in probe.expected if k not in got]
    if missing:
        hint = f"returned no gradient for {', '.join(missing[:5])}" + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        return False, f"{probe.label}: {hint}", hint, True
    keys = list(probe.expected)
    t = np.fromiter((probe.expected[k] for k in keys), float, len(keys))
    s = np.fromiter((got[k] for k in keys), float, len(keys))
    # Each entry is its own quantity: its tolerance scales with its own true value.
    with np.errstate(invalid="ignore"):
        wrong = ~(np.abs(s - t) <= (tol.atol + tol.rtol) * np.abs(t) + 1e-12)
    if wrong.any():
        hint = _dict_hint(probe, got, keys[int(np.argmax(wrong))])
        return False, f"{probe.label}: {hint}", hint, False
    return True, "", None, False


def _dict_hint(probe: Probe, got: dict, key: str) -> str:
    """Explain a wrong entry of a backprop answer."""
    nodes, local, _ = probe.call.args
    s, t = got[key], probe.expected[key]
    parents = [(p, g) for p, ins in nodes.items() for i, g in zip(ins, local[p]) if i == key]
    twice = [p for p, _ in parents if sum(q == p for q, _ in parents) > 1]
    if twice and abs(t - s) > 1e-9:
        return (f"d{key} is wrong: {key} appears twice among the inputs of {twice[0]} (as x "
                "in x * x), and each use adds its own contribution")
    if len(parents) > 1:
        paths = [got.get(p, 0.0) * g for p, g in parents]
        if any(abs(s - c) <= 1e-9 * max(1, abs(c)) for c in paths) and abs(t - s) > 1e-9:
            return (f"d{key} holds one path's contribution only: at fan-out the gradients of "
                    "every path must be added (+=), not overwritten")
    if probe.check == "unreachable" and t == 0:
        return f"d{key} should be 0: {key} does not reach the output"
    return f"d{key} is {s:.6g}; expected {t:.6g}"


def judge_answer(exercise: Exercise, probes: list[Probe], outcomes: list[Outcome],
                 limits: Limits) -> list[CheckResult]:
    """One check per asked gradient of a worked example."""
    (probe,), (outcome,) = probes, outcomes
    keys = exercise.spec["ask"]
    if outcome.status != "ok" or outcome.output.get("dict") is None and \
            outcome.output.get("container") != "dict":
        if outcome.status == "ok":
            message = (f"{exercise.spec['answer']} is a {outcome.output.get('container')}; "
                       "expected a dict")
        else:
            message = fault_message(outcome, limits, exercise.spec["answer"])
        return [CheckResult(f"d{k}", 1.0, False, message, message) for k in keys]
    got, bad = outcome.output["dict"], outcome.output.get("bad", {})
    results = []
    for key in keys:
        t = probe.expected[key]
        if key in bad:
            hint = (f"{exercise.spec['answer']} is not filled in yet: replace each None by "
                    "the gradient you computed" if
                    bad[key] == "NoneType" else
                    f"{exercise.spec['answer']}[{key!r}] is a {bad[key]}; expected a number")
        elif key not in got:
            hint = f"{exercise.spec['answer']} has no entry {key!r}"
        elif abs(got[key] - t) <= exercise.tolerance.atol + exercise.tolerance.rtol * abs(t):
            results.append(CheckResult(f"d{key}", 1.0, True))
            continue
        else:
            hint = _answer_hint(exercise, probe.expected, got, key)
        results.append(CheckResult(f"d{key}", 1.0, False, hint, hint))
    wrong = [k for k, r in zip(keys, results) if not r.passed and k in got]
    if wrong:
        results[keys.index(wrong[0])].hint += "; " + _side_by_side(exercise, probe, got, wrong)
    return results


def _side_by_side(exercise: Exercise, probe: Probe, got: dict, wrong: list[str]) -> str:
    """Which of the student's numbers are right (next to the true ones with `reveal:
    answers`), and where in the graph the wrong ones meet."""
    shown = exercise.reveal == "answers"  # the true numbers only if the course says so
    pairs = ", ".join(f"d{k}: yours {got[k]:.4g}" +
                      (f", true {probe.expected[k]:.4g}" if shown else "") +
                      (" ✗" if k in wrong else " ✓") for k in probe.expected if k in got)
    return pairs + (f"; {_where_they_meet(exercise.graph(), set(wrong))}" if len(wrong) > 1
                    else "")


def _gate_text(graph, name: str) -> str:
    node = graph.nodes[name]
    return f"{name} = {node.op}({', '.join(node.args)})"


def _where_they_meet(graph, wrong: set[str]) -> str:
    """The gate nearest the inputs that every path from a wrong answer to the output goes
    through, and only what that proves."""
    structure = graph.structure()
    order = topological_order(structure, graph.output)  # inputs first
    gate = next(n for n in order if n in graph.nodes and  # the output is on every path
                not any(_reaches(structure, w, graph.output, n) for w in wrong))
    if gate == graph.output:
        return (f"your wrong answers meet only at the output gate {_gate_text(graph, gate)}: "
                "its local gradient is wrong, or there is more than one mistake")
    return (f"every wrong answer flows through {_gate_text(graph, gate)}: if one mistake "
            "explains them all, it is at that gate or between it and the output")


def _reaches(structure: dict, start: str, target: str, avoiding: str) -> bool:
    """Is there a path from `start` up to `target` that avoids the node `avoiding`?"""
    users: dict[str, list[str]] = {}
    for name, inputs in structure.items():
        for i in inputs:
            users.setdefault(i, []).append(name)
    seen, stack = set(), [start]
    while stack:
        name = stack.pop()
        if name in seen or name == avoiding:
            continue
        if name == target:
            return True
        seen.add(name)
        stack.extend(users.get(name, []))
    return False


def _consumers(graph, key: str) -> str:
    """The gates an input enters, with the lecture's idea of each."""
    gates = [name for name, node in graph.nodes.items() if key in node.args]
    ideas = {g: graph.ops[graph.nodes[g].op].idea for g in gates}
    parts = [_gate_text(graph, g) + (f", where {ideas[g]}" if ideas[g] else "") for g in gates]
    return "; ".join(parts) + ("; at fan-out the gradients of every path are added"
                               if len(gates) > 1 else "")


def _answer_hint(exercise: Exercise, truth: dict, got: dict, key: str) -> str:
    """One wrong hand-computed gradient: the gates it enters and their lecture ideas; with
    `reveal: answers`, also how it is wrong (sign, a swap, a common factor)."""
    hint = f"df/d{key} is wrong: {key} enters {_consumers(exercise.graph(), key)}"
    if exercise.reveal != "answers":
        return hint  # its sign or size would tell the number
    detail = _how_it_is_wrong(exercise.tolerance, truth, got, key)
    return f"{hint} ({detail})" if detail else hint


def _how_it_is_wrong(tol: Tolerance, truth: dict, got: dict, key: str) -> str | None:
    def close(a, b):
        return abs(a - b) <= tol.atol + tol.rtol * abs(b)

    value, t = got[key], truth[key]
    if close(-value, t) and not close(0.0, t):
        return "it has the wrong sign"
    for other, t_other in truth.items():
        if other != key and other in got and close(value, t_other) and \
                close(got[other], t) and not close(t_other, t):
            return f"it and df/d{other} look swapped"
    ratios = [got[k] / truth[k] for k in truth if k in got and abs(truth[k]) > 10 * tol.atol]
    if len(ratios) > 1 and not close(ratios[0], 1.0) and all(
            abs(r - ratios[0]) <= 0.05 * abs(ratios[0]) for r in ratios):
        return (f"every gradient is {ratios[0]:.3g} times the true one: a local gradient along "
                "the chain is missing or wrong")
    return None
