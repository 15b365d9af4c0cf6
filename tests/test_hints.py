"""Hints are never wrong: a diagnosis only on unambiguous evidence (several entries, every
failing case agreeing), at most one per output, and otherwise a plain description of
what is wrong. Table: mistake -> what the hint must say -> what it must never say."""

from __future__ import annotations

import pytest

from conftest import check_json, compose

LINEAR = "def linear_backward(dout, x, w, b):\n    return {}\n"
SOFTMAX = ("import numpy as np\ndef softmax_ce_backward(dout, s, y):\n"
           "    e = np.exp(s - s.max(axis=1, keepdims=True))\n"
           "    p = e / e.sum(axis=1, keepdims=True)\n    {}\n    return {} * p / len(y)\n")
TABLE = [
    # (name, exercise, override, what each hint says, in order: one per wrong output, a
    #  phrase or a tuple of phrases; what no hint may say)
    ("max of both inputs times dout", "max",
     "import numpy as np\ndef max_backward(dout, x, y):\n"
     "    return dout * np.maximum(x, y), dout * np.maximum(x, y)\n",
     ["dx is wrong at", "dy is wrong at"], ["times the right value", "routed", "swap"]),
    ("offset adds c", "offset",
     "def offset_backward(dout, x, c):\n    return dout + c\n",
     ["the constant c is added to the gradient"], ["times the right value"]),
    ("max sends dout to both inputs", "max",
     "def max_backward(dout, x, y):\n    return dout.copy(), dout.copy()\n",
     ["your dx matches a known mistake: the whole upstream goes to both inputs",
      "your dy matches a known mistake: the whole upstream goes to both inputs"],
     ["routed to the loser"]),
    ("max routed to the smaller input", "max",
     "def max_backward(dout, x, y):\n    return dout * (x < y), dout * (y < x)\n",
     ["your dx equals the true dy at every entry: the gradient is routed to the loser",
      "your dy equals the true dx at every entry: the gradient is routed to the loser"],
     ["is wrong at"]),
    ("inverted relu mask", "relu",
     "def relu_backward(dout, x):\n    return dout * (x <= 0)\n",
     ["the mask is inverted"], ["taken from the upstream"]),
    ("missing return", "exp",
     "import numpy as np\ndef exp_backward(dout, x):\n    dx = dout * np.exp(x)\n",
     ["returned None: is the `return` statement missing?"], ["single value", "NoneType"]),
    ("returns a constant", "offset",
     "def offset_backward(dout, x, c):\n    return 1.0\n",
     ["a single number where one gradient entry per element is needed"], ["sum over"]),
    ("@ instead of *", "exp",
     "import numpy as np\ndef exp_backward(dout, x):\n    return dout @ np.exp(x)\n",
     ["`@` is the matrix product"], ["gufunc core with signature (n?,k)"]),
    ("linear without the transpose of w", "linear", LINEAR.format("dout @ w, x.T @ dout, "
                                                                  "dout.sum(axis=0)"),
     [("`@` is the matrix product and these shapes do not chain", "needs a transpose (.T)",
       "called linear_backward(dout: shape")], ["elementwise", "`*`"]),
    ("exp taken as the input", "exp",
     "def exp_backward(dout, x):\n    return dout * x\n",
     ["the input x is used where exp's output belongs"], ["power rule"]),
    ("exp with the sign flipped", "exp",
     "import numpy as np\ndef exp_backward(dout, x):\n    return dout * np.exp(-x)\n",
     ["the sign inside the exponent is flipped"], ["is wrong at", "power rule"]),
    ("scale times the input", "scale",
     "def scale_backward(dout, x, c):\n    return dout * x\n",
     ["the input x is used where the constant belongs"], ["is wrong at"]),
    ("identically zero", "sigmoid",
     "import numpy as np\ndef sigmoid_backward(dout, x):\n    return np.zeros_like(x)\n",
     ["zero everywhere"], ["times the right value", "placeholder"]),
    ("zeros by mistake in every output", "mul",
     "def mul_backward(dout, x, y):\n    return dout * (y - y), dout * (x - x)\n",
     ["dx is zero everywhere, and so is every other output"], ["placeholder"]),
    ("one input's gradient identically zero", "mul",
     "import numpy as np\ndef mul_backward(dout, x, y):\n    return dout * y, np.zeros_like(y)\n",
     ["your dy is zero everywhere: no gradient reaches y"], ["placeholder", "dx"]),
    ("local gradient at the wrong point", "sigmoid",
     "import numpy as np\ndef sigmoid_backward(dout, x):\n"
     "    s = 1 / (1 + np.exp(-(x + 1)))\n    return dout * s * (1 - s)\n",
     ["dx is wrong at"], ["times the right value", "known mistake"]),
    ("sigmoid that overflows", "sigmoid",
     "import numpy as np\ndef sigmoid_backward(dout, x):\n    with np.errstate(all='ignore'):\n"
     "        s = np.exp(x) / (1 + np.exp(x))\n    return dout * s * (1 - s)\n",
     ["nan/inf entries: exp overflowed at a large |x|"], ["row"]),
    ("bias gradient from part of the batch", "linear",
     LINEAR.format("dout @ w.T, x.T @ dout, dout[:2].sum(axis=0)"),
     ["sums only the first 2 of the"], ["times the right value", "swap"]),
    ("dw and db both divided by N", "linear",
     LINEAR.format("dout @ w.T, x.T @ dout / len(x), dout.sum(axis=0) / len(x)"),
     ["your dw is 1/", "your db is 1/"], ["dx"]),
    ("softmax shifted by the batch maximum", "softmax_ce",
     SOFTMAX.replace("s.max(axis=1, keepdims=True)", "s.max()").format(
         "p[np.arange(len(y)), y] -= 1", "dout"),
     ["shift the scores by each row's own maximum"], ["is wrong at"]),
    ("softmax -1 at every label's column", "softmax_ce",
     SOFTMAX.format("p[:, y] -= 1", "dout"), ["(p[:, y])"], ["every class instead"]),
    ("Jacobian with the wrong structure", "relu_jacobian",
     "import numpy as np\ndef relu_jacobian(x):\n"
     "    return np.tile((x > 0).astype(float), (x.size, 1))\n",
     ["nonzero entries off the diagonal"], ["times the right value"]),
    ("Jacobian as its diagonal alone", "relu_jacobian",
     "import numpy as np\ndef relu_jacobian(x):\n    return (x > 0).astype(float)\n",
     [("x of length 1: J has shape (1,); expected (1, 1)", "np.diag")], ["wrong at"]),
    ("identity Jacobian", "relu_jacobian",
     "import numpy as np\ndef relu_jacobian(x):\n    return np.eye(x.size)\n",
     ["J is the identity"], ["is wrong at"]),
    ("writes into dout where no mask applies", "exp",
     "import numpy as np\ndef exp_backward(dout, x):\n    dout *= np.exp(x)\n    return dout\n",
     ["changed its argument dout in place"], ["mask"]),
    ("gate patterns without the x2", "gate_patterns",
     "GATE_PATTERNS_GRADS = {'x': -4.0, 'y': 3.0, 'z': 1.0, 'w': 0.0}\n",
     ["every wrong answer flows through s = add(p, m): if one mistake explains them all",
      "df/dy is wrong: y enters p = mul(x, y)", "df/dz is wrong: z enters m = max(z, w)"],
     ["sign", "times the true", "true -8"]),
    ("worked example: max sends the upstream to both", "gate_patterns",
     "GATE_PATTERNS_GRADS = {'x': -8.0, 'y': 6.0, 'z': 2.0, 'w': 2.0}\n",
     ["df/dw is wrong: w enters m = max(z, w), where a max gate routes"],
     ["swapped", "sign", "true"]),
    ("worked example: a sign error", "simple_graph",
     "SIMPLE_GRAPH_GRADS = {'x': -4.0, 'y': -4.0, 'z': -3.0}\n",
     ["df/dz is wrong: z enters f = mul(q, z), where a multiply gate swaps"],
     ["sign", "true 3"]),
    ("worked example: independent mistakes", "sigmoid_neuron",
     "SIGMOID_NEURON_GRADS = {'w0': 0.2, 'x0': 0.39, 'w1': -0.39, 'x1': -0.2, 'w2': 0.2}\n",
     [("df/dw0 is wrong", "if one mistake explains them all"), "df/dx1 is wrong"],
     ["the mistake is at that gate", "sign", "true"]),
    ("the net without relu_backward", "two_layer_net",
     "def relu_backwrd(dout, x):\n    return dout * (x > 0)\ndel relu_backward\n",
     ["did you mean relu_backwrd?",
      "not run: the net chains every gate, and relu_backward gave no usable answer"],
     ["defines no linear_backward"]),
    ("the net with a linear gate returning 2 values", "two_layer_net",
     LINEAR.format("dout @ w.T, x.T @ dout"),
     ["returned 2 values; expected 3 (dx, dw, db)", "and linear_backward gave no usable"],
     ["IndexError", "raised"]),
    ("the net with a softmax sign error", "two_layer_net",
     SOFTMAX.format("p[np.arange(len(y)), y] -= 1", "-dout"),
     ["dscores has the wrong sign", "as the gate checks above predict",
      "your gradients do not point downhill"], ["update each weight", "dW1 is wrong at"]),
]


@pytest.mark.parametrize("name, exercise, override, says, never", TABLE,
                         ids=[row[0] for row in TABLE])
def test_each_wrong_output_gets_one_hint_naming_what_is_known_and_nothing_else(
        name, exercise, override, says, never, tmp_path):
    for seed in ("0", "3", "11"):
        report, _ = check_json(compose(tmp_path, override), "--only", exercise, "--seed", seed)
        (result,) = report["exercises"]
        hints = result["hints"]
        assert result["status"] != "passed"
        assert len(hints) == len(says), (seed, hints)  # one per wrong output, none twice
        for hint, phrases in zip(hints, says):  # in the order of the outputs
            phrases = (phrases,) if isinstance(phrases, str) else phrases
            assert all(phrase in hint for phrase in phrases), (seed, hint, phrases)
        assert not [p for p in never if p in " | ".join(hints)], (seed, hints)
