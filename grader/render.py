"""Graph exercises drawn like the lecture: each wire's forward value above its gradient.

`text` draws the graph as a tree from the output down (a value used twice appears twice,
marked as shared); `dot` writes Graphviz, with every edge labelled by its value (green,
above) and its gradient (red, below), which `image` turns into SVG or PNG when the
Graphviz `dot` program is installed.
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np

from reference.graph import Graph

GREEN, RED = "#1a7f37", "#cf222e"


def _fmt(value) -> str:
    array = np.asarray(value, dtype=float)
    if array.ndim == 0:
        return f"{float(array):.2f}"
    rows = np.round(array, 2).tolist()
    return str(rows).replace(" ", "") if array.size <= 12 else f"array{array.shape}"


def _label(graph: Graph, name: str) -> str:
    node = graph.nodes.get(name)
    if node is None:
        return name
    params = "".join(f", {k}={v:g}" for k, v in node.params.items())
    return f"{name} = {node.op}({', '.join(node.args)}{params})"


def text(graph: Graph, values: dict, grads: dict | None, title: str = "") -> str:
    """The graph as a tree from the output, one line per wire: its forward value and the
    gradient flowing back along it (one path's share; a value used on several wires gets
    the sum, shown as Σ). Without `grads`, values only (a student's variant)."""
    wires = graph.wire_gradients(values, grads) if grads is not None else {}
    uses: dict[str, int] = {}
    for node in graph.nodes.values():
        for arg in node.args:
            uses[arg] = uses.get(arg, 0) + 1
    rows: list[tuple[str, str]] = []
    seen: set[str] = set()
    stack = [(graph.output, "", "", True, None)]
    while stack:  # iterative: graphs may be deep
        name, prefix, branch, last, wire = stack.pop()
        shared = name in seen and name in graph.nodes
        label = f"{prefix}{branch}{_label(graph, name)}" + (" (shared, see above)"
                                                            if shared else "")
        numbers = _fmt(values[name])
        if grads is not None:
            numbers += f" / {_fmt(grads[name] if wire is None else wires[wire])}"
            if uses.get(name, 0) > 1 and not shared and wire is not None:
                numbers += f"  (Σ {_fmt(grads[name])})"
        rows.append((label, numbers))
        seen.add(name)
        node = graph.nodes.get(name)
        if node is None or shared:
            continue
        child_prefix = prefix + ("" if not branch else ("    " if last else "│   "))
        for i, arg in reversed(list(enumerate(node.args))):
            is_last = i == len(node.args) - 1
            stack.append((arg, child_prefix, "└── " if is_last else "├── ", is_last,
                          (name, i)))
    width = max(len(r[0]) for r in rows) + 3
    header = "value ↑ / gradient ↓" if grads is not None else "value"
    lines = ([title, ""] if title else []) + [f"{'wire':<{width}}{header}"]
    lines += [f"{label:<{width}}{numbers}" for label, numbers in rows]
    return "\n".join(lines) + "\n"


def dot(graph: Graph, values: dict, grads: dict | None, title: str = "") -> str:
    """Graphviz source: inputs as plain nodes, gates as boxes, edges as labelled wires
    (forward values only when `grads` is None)."""
    lines = ["digraph backprop {", "  rankdir=LR;", '  node [fontname="Helvetica"];',
             '  edge [fontname="Helvetica"];']
    if title:
        lines.append(f'  label="{title}"; labelloc=t;')

    wires = graph.wire_gradients(values, grads) if grads is not None else {}

    def wire(a: str, b: str, grad) -> str:
        below = f'<br/><font color="{RED}">{_fmt(grad)}</font>' if grad is not None else ""
        return (f'  "{a}" -> "{b}" [label=<<font color="{GREEN}">{_fmt(values[a])}</font>'
                f'{below}>];')

    for name in graph.inputs:
        lines.append(f'  "{name}" [shape=plaintext];')
    for name, node in graph.nodes.items():
        params = "".join(f" {k}={v:g}" for k, v in node.params.items())
        lines.append(f'  "{name}" [shape=circle, label="{node.op}{params}"];')
        lines += [wire(arg, name, wires.get((name, i))) for i, arg in enumerate(node.args)]
    lines.append('  "out" [shape=plaintext, label=""];')
    lines.append(wire(graph.output, "out", grads[graph.output] if grads else None))
    lines.append("}")
    return "\n".join(lines) + "\n"


def image(dot_source: str, fmt: str) -> bytes:
    """SVG or PNG bytes from Graphviz source; needs the `dot` program."""
    program = shutil.which("dot")
    if program is None:
        raise RuntimeError("the Graphviz `dot` program is not installed (e.g. "
                           "`apt-get install graphviz`); use --format text or dot")
    done = subprocess.run([program, f"-T{fmt}"], input=dot_source.encode(),
                          capture_output=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"dot failed: {done.stderr.decode(errors='replace')[:500]}")
    return done.stdout
