"""Hints are never wrong: a diagnosis only on unambiguous evidence (several entries, every
failing case agreeing), at most one per output, and otherwise a plain description of
what is wrong. Table: mistake -> what the hint must say -> what it must never say."""

from __future__ import annotations

import pytest

from conftest import check_json, compose

TABLE = [
    # (name, exercise, override, must say, must never say)
    ("max of both inputs times dout", "max",
     "import numpy as np\ndef max_backward(dout, x, y):\n"
     "    return dout * np.maximum(x, y), dout * np.maximum(x, y)\n",
     "dx is wrong at", ["times the right value", "routed", "swap"]),
    ("offset adds c", "offset",
     "def offset_backward(dout, x, c):\n    return dout + c\n",
     "the constant c is added to the gradient", ["times the right value"]),
    ("max sends dout to both inputs", "max",
     "def max_backward(dout, x, y):\n    return dout.copy(), dout.copy()\n",
     "goes to both inputs", ["routed to the loser"]),
    ("inverted relu mask", "relu",
     "def relu_backward(dout, x):\n    return dout * (x <= 0)\n",
     "the mask is inverted", ["taken from the upstream"]),
    ("missing return", "exp",
     "import numpy as np\ndef exp_backward(dout, x):\n    dx = dout * np.exp(x)\n",
     "returned None: is the `return` statement missing?", ["single value", "NoneType"]),
    ("returns a constant", "offset",
     "def offset_backward(dout, x, c):\n    return 1.0\n",
     "a single number where one gradient entry per element is needed", ["sum over"]),
    ("@ instead of *", "exp",
     "import numpy as np\ndef exp_backward(dout, x):\n    return dout @ np.exp(x)\n",
     "`@` is the matrix product", ["gufunc core with signature (n?,k)"]),
    ("identically zero", "sigmoid",
     "import numpy as np\ndef sigmoid_backward(dout, x):\n    return np.zeros_like(x)\n",
     "zero everywhere", ["times the right value"]),
    ("local gradient at the wrong point", "sigmoid",
     "import numpy as np\ndef sigmoid_backward(dout, x):\n"
     "    s = 1 / (1 + np.exp(-(x + 1)))\n    return dout * s * (1 - s)\n",
     "dx is wrong at", ["times the right value", "known mistake"]),
    ("bias gradient from part of the batch", "linear",
     "def linear_backward(dout, x, w, b):\n"
     "    return dout @ w.T, x.T @ dout, dout[:2].sum(axis=0)\n",
     "sums only the first 2 of the", ["times the right value", "swap"]),
    ("Jacobian with the wrong structure", "relu_jacobian",
     "import numpy as np\ndef relu_jacobian(x):\n"
     "    return np.tile((x > 0).astype(float), (x.size, 1))\n",
     "nonzero entries off the diagonal", ["times the right value"]),
    ("gate patterns without the x2", "gate_patterns",
     "GATE_PATTERNS_GRADS = {'x': -4.0, 'y': 3.0, 'z': 1.0, 'w': 0.0}\n",
     "every wrong answer flows through s = add(p, m)", ["m = max(z, w)"]),
]


@pytest.mark.parametrize("name, exercise, override, says, never", TABLE,
                         ids=[row[0] for row in TABLE])
def test_the_hint_names_what_is_known_and_nothing_else(name, exercise, override, says,
                                                       never, tmp_path):
    for seed in ("0", "3", "11"):
        report, _ = check_json(compose(tmp_path, override), "--only", exercise, "--seed", seed)
        (result,) = report["exercises"]
        hints = " | ".join(result["hints"])
        assert result["score"] < result["max_score"]
        assert says in hints, (seed, hints)
        assert not [phrase for phrase in never if phrase in hints], (seed, hints)
        assert len(result["hints"]) == 1 or exercise == "gate_patterns", result["hints"]
