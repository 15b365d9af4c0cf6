"""The layers of CS231n's assignment 2, as reference forward and backward pairs.

Each op is declared in the student's own convention: its forward returns (out, cache) and
its backward takes (dout, cache); the losses return (loss, dx); dropout is random. The
reference forwards below return the output alone, and each backward takes the forward's
inputs: the grader calls the student's functions in their convention and compares with
these. Course-year differences (is dropout's p the keep or the drop probability?) come
from pack.yaml's conventions.
"""

import numpy as np

from grader.authoring import (Choice, FloatRange, Group, IntRange, Mistake, Ops, Stochastic,
                              labels, nonzero, sampler, spread)


# ---- shared pieces ----------------------------------------------------------------------


def _flat(x):
    return x.reshape(x.shape[0], -1)


def _row_scaled(shape, rng, dims):
    """Scores whose rows differ in scale (0.5 to 6): a loss that shifts by one maximum for
    the whole batch, or mixes rows, shows."""
    scale = rng.uniform(0.5, 6.0, size=shape[:1] + (1,) * (len(shape) - 1))
    return rng.normal(size=shape) * scale


ROW_SCALED = sampler("row-scaled", _row_scaled)
# Normalisation: a variance of at most 4 and an eps of at least 0.002, so that an eps left
# out (or hard-coded) changes the output by more than the tolerance.
NORMALISED = spread(scale=(0.5, 2.0))
EPS = FloatRange(2e-3, 2e-2)


def _softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _normalize(x, axis, eps):
    """(x - mean) / sqrt(var + eps) along `axis`, with the pieces a backward needs."""
    mu = x.mean(axis=axis, keepdims=True)
    var = x.var(axis=axis, keepdims=True)
    std = np.sqrt(var + eps)
    return (x - mu) / std, std


def _norm_terms(dout, x, gamma, axis, eps):
    """The gradient of a normalisation's input as three paths: direct, through the mean,
    through the variance; each as (dx, dgamma, dbeta), gamma and beta (summed over the
    batch, whatever the normalised axis) on the direct one."""
    xhat, std = _normalize(x, axis, eps)
    n = x.shape[axis]
    dxhat = dout * gamma
    zeros = (np.zeros_like(gamma), np.zeros_like(gamma))
    return {"direct": (dxhat / std, (dout * xhat).sum(axis=0), dout.sum(axis=0)),
            "through the mean": (-dxhat.sum(axis=axis, keepdims=True) / (n * std), *zeros),
            "through the variance": (-xhat * (dxhat * xhat).sum(axis=axis, keepdims=True) /
                                     (n * std), *zeros)}


def _summed(terms):
    return tuple(sum(parts) for parts in zip(*terms.values()))


def _windows(height, width, size_h, size_w, stride):
    """Every window's top-left corner (i, j) and slices, in row-major order."""
    for i in range((height - size_h) // stride + 1):
        for j in range((width - size_w) // stride + 1):
            yield i, j, slice(i * stride, i * stride + size_h), slice(j * stride, j * stride + size_w)


def _norm_paths(axis):
    """An op's `terms`: the three paths of a normalisation along `axis`."""
    return {name: (lambda dout, x, gamma, beta, p, name=name:
                   _norm_terms(dout, x, gamma, axis, p["eps"])[name])
            for name in ("direct", "through the mean", "through the variance")}


def build(conventions):
    ops = Ops()
    keep = conventions.get("dropout_p", "keep") == "keep"

    # ---- affine ---------------------------------------------------------------------

    @ops.op(inputs={"x": "N A B", "w": "D M", "b": "M"}, output="N M", convention="cache",
            dims={"A": (2, 4), "B": (2, 5), "D": (4, 20)}, constraints=["D == A * B"],
            batch="N", formula="x.reshape(N, D) @ w + b",
            swap_idea=("dx and dw use the wrong factors: each is the upstream times the other "
                       "operand, transposed so that the shapes fit", ""),
            matmul=("each gradient has the shape of its own input: flatten x to (N, D) for "
                    "dw, and give dx the shape of x"),
            backward=lambda dout, x, w, b: ((dout @ w.T).reshape(x.shape), _flat(x).T @ dout,
                                            dout.sum(axis=0)))
    def affine(x, w, b):
        return _flat(x) @ w + b

    # ---- relu -----------------------------------------------------------------------

    @ops.op(inputs={"x": "N D"}, convention="cache", formula="max(0, x)",
            kinks=lambda x: float(np.min(np.abs(x), initial=np.inf)),
            backward=lambda dout, x: dout * (x > 0),
            mistakes=[Mistake("out", "the forward keeps the negative entries: relu sets them "
                                     "to 0", lambda x: np.abs(x))])
    def relu(x):
        return np.maximum(0, x)

    # ---- batch normalisation -----------------------------------------------------------

    def batchnorm_backward(dout, x, gamma, beta, bn_param):
        return _summed(_norm_terms(dout, x, gamma, 0, bn_param["eps"]))

    @ops.op(inputs={"x": "N D", "gamma": "D", "beta": "D"}, output="N D", convention="cache",
            domains={"x": NORMALISED, "gamma": nonzero()}, dims={"N": (4, 8)}, batch="N",
            params={"bn_param": Group(mode="train", eps=EPS, momentum=FloatRange(0.5, 0.95))},
            state=("bn_param",), test_mode={"mode": "test"}, backward=batchnorm_backward,
            terms=_norm_paths(0),
            mistakes=[
                Mistake("gamma", "dgamma is missing x̂: gamma multiplies the normalised "
                                 "input, so its gradient sums dout * x̂ over the batch",
                        lambda dout, x, gamma, beta, p: dout.sum(axis=0)),
                Mistake("out", "the variance is the unbiased one (ddof=1): batch "
                               "normalisation divides by N",
                        lambda x, gamma, beta, p: gamma * (x - x.mean(0)) / np.sqrt(
                            x.var(0, ddof=1) + p["eps"]) + beta)])
    def batchnorm(x, gamma, beta, bn_param):
        eps, momentum = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
        d = x.shape[1]
        mean = bn_param.get("running_mean", np.zeros(d))
        var = bn_param.get("running_var", np.zeros(d))
        if bn_param["mode"] == "test":
            return gamma * (x - mean) / np.sqrt(var + eps) + beta
        bn_param["running_mean"] = momentum * mean + (1 - momentum) * x.mean(axis=0)
        bn_param["running_var"] = momentum * var + (1 - momentum) * x.var(axis=0)
        return gamma * _normalize(x, 0, eps)[0] + beta

    # ---- layer normalisation -----------------------------------------------------------

    @ops.op(inputs={"x": "N D", "gamma": "D", "beta": "D"}, output="N D", convention="cache",
            domains={"x": NORMALISED, "gamma": nonzero()}, dims={"D": (4, 8)}, batch="N",
            params={"ln_param": Group(eps=EPS)},
            terms=_norm_paths(1),
            backward=lambda dout, x, gamma, beta, p: _summed(_norm_terms(dout, x, gamma, 1,
                                                                         p["eps"])),
            mistakes=[Mistake("out", "the forward normalises over the batch axis (each "
                                     "feature's column): layer normalisation normalises each "
                                     "sample's row",
                              lambda x, gamma, beta, p: gamma * _normalize(x, 0, p["eps"])[0]
                              + beta)])
    def layernorm(x, gamma, beta, ln_param):
        return gamma * _normalize(x, 1, ln_param["eps"])[0] + beta

    # ---- dropout --------------------------------------------------------------------

    def kept(dropout_param):
        return dropout_param["p"] if keep else 1 - dropout_param["p"]

    def mask(x, dropout_param):
        rng = np.random.RandomState(dropout_param["seed"])
        return (rng.rand(*x.shape) < kept(dropout_param)) / kept(dropout_param)

    @ops.op(inputs={"x": "N D"}, convention="stochastic", dims={"N": (2, 4), "D": (2, 5)},
            params={"dropout_param": Group(p=FloatRange(0.3, 0.8), mode="train",
                                           seed=IntRange(0, 10**6))},
            stochastic=Stochastic(param="dropout_param",
                                  kept=lambda x, dropout_param: kept(dropout_param),
                                  expectation=lambda x, dropout_param: x,
                                  test_mode={"mode": "test"}),
            backward=lambda dout, x, dropout_param: dout * mask(x, dropout_param))
    def dropout(x, dropout_param):
        return x * mask(x, dropout_param) if dropout_param["mode"] == "train" else x

    # ---- convolution ------------------------------------------------------------------

    def conv_backward(dout, x, w, b, conv_param):
        stride, pad = conv_param["stride"], conv_param["pad"]
        xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        dxp, dw = np.zeros_like(xp), np.zeros_like(w)
        for i, j, rows, cols in _windows(*xp.shape[2:], *w.shape[2:], stride):
            g = dout[:, :, i, j]  # (N, F)
            dxp[:, :, rows, cols] += np.tensordot(g, w, axes=(1, 0))
            dw += np.tensordot(g, xp[:, :, rows, cols], axes=(0, 0))
        return dxp[:, :, pad:pad + x.shape[2], pad:pad + x.shape[3]], dw, dout.sum(axis=(0, 2, 3))

    @ops.op(inputs={"x": "N C H W", "w": "F C HH WW", "b": "F"}, output="N F H' W'",
            convention="cache", batch="N",
            dims={"N": (2, 3), "C": (2, 3), "H": (5, 9), "W": (5, 9), "F": (2, 4),
                  "HH": (2, 4), "WW": (2, 4)},
            params={"conv_param": Group(stride=Choice([2]), pad=Choice([1, 2]))},
            constraints=["(H + 2 * pad - HH) % stride == 0", "(W + 2 * pad - WW) % stride == 0",
                         "H != W", "HH != WW"],
            backward=conv_backward)  # `=` for `+=` in dx: the engine's generic hint
    def conv(x, w, b, conv_param):
        stride, pad = conv_param["stride"], conv_param["pad"]
        xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        hout = (xp.shape[2] - w.shape[2]) // stride + 1
        wout = (xp.shape[3] - w.shape[3]) // stride + 1
        out = np.zeros((x.shape[0], w.shape[0], hout, wout))
        for i, j, rows, cols in _windows(*xp.shape[2:], *w.shape[2:], stride):
            out[:, :, i, j] = np.tensordot(xp[:, :, rows, cols], w, axes=([1, 2, 3], [1, 2, 3])) + b
        return out

    # ---- max pooling -------------------------------------------------------------------

    def pool_windows(x, p):
        return _windows(*x.shape[2:], p["pool_height"], p["pool_width"], p["stride"])

    def pool_gap(x, pool_param):
        """How close a window's two largest entries come (a tie is a kink)."""
        gaps = [np.inf]
        for _, _, rows, cols in pool_windows(x, pool_param):
            top = np.sort(x[:, :, rows, cols].reshape(*x.shape[:2], -1), axis=-1)
            gaps.append(float(np.min(top[..., -1] - top[..., -2])))
        return min(gaps)

    def pool_backward(dout, x, pool_param, overwrite=None, everywhere=False):
        """The gradient, or a classic wrong one: `overwrite` "window" writes each window
        whole with `=` (zeros at its other entries), "max" writes its maximum's entry
        with `=`; `everywhere` routes the upstream to every entry of the window."""
        dx = np.zeros_like(x)
        for i, j, rows, cols in pool_windows(x, pool_param):
            window = x[:, :, rows, cols]
            hit = window == window.max(axis=(2, 3), keepdims=True)
            routed = (np.ones_like(hit) if everywhere else hit) * dout[:, :, i, j][:, :, None, None]
            if overwrite == "window":
                dx[:, :, rows, cols] = routed
            elif overwrite == "max":
                dx[:, :, rows, cols] = np.where(hit, routed, dx[:, :, rows, cols])
            else:
                dx[:, :, rows, cols] += routed
        return dx

    @ops.op(inputs={"x": "N C H W"}, output="N C H' W'", convention="cache", batch="N",
            dims={"N": (2, 3), "C": (2, 3), "H": (5, 9), "W": (5, 9)},
            params={"pool_param": Group(pool_height=Choice([2, 3]), pool_width=Choice([2, 3]),
                                        stride=Choice([1, 2]))},
            constraints=["stride < pool_height", "stride < pool_width",
                         "(H - pool_height) % stride == 0", "(W - pool_width) % stride == 0",
                         "H != W", "pool_height != pool_width"],
            kinks=pool_gap, backward=lambda dout, x, p: pool_backward(dout, x, p),
            mistakes=[
                *(Mistake("x", "`=` where overlapping windows need `+=`: an entry that is "
                               "the maximum of several windows collects the gradient of each",
                          lambda dout, x, p, how=how: pool_backward(dout, x, p, overwrite=how))
                  for how in ("window", "max")),
                Mistake("x", "the gradient goes to every entry of the window: max pooling "
                             "routes it to the window's maximum only",
                        lambda dout, x, p: pool_backward(dout, x, p, everywhere=True))])
    def max_pool(x, pool_param):
        p = pool_param
        hout = (x.shape[2] - p["pool_height"]) // p["stride"] + 1
        wout = (x.shape[3] - p["pool_width"]) // p["stride"] + 1
        out = np.zeros(x.shape[:2] + (hout, wout))
        for i, j, rows, cols in pool_windows(x, p):
            out[:, :, i, j] = x[:, :, rows, cols].max(axis=(2, 3))
        return out

    # ---- losses ---------------------------------------------------------------------

    def svm_margins(x, y):
        n = x.shape[0]
        margins = x - x[np.arange(n), y][:, None] + 1.0
        margins[np.arange(n), y] = 0.0
        return margins

    def svm_backward(dout, x, y):
        n = x.shape[0]
        positive = (svm_margins(x, y) > 0).astype(float)
        positive[np.arange(n), y] = -positive.sum(axis=1)
        return dout * positive / n

    @ops.op(inputs={"x": "N C", "y": "N"}, output="", convention="loss", batch="N",
            domains={"x": ROW_SCALED, "y": labels("C")},
            kinks=lambda x, y: float(np.min(np.abs(svm_margins(x, y))[
                np.arange(x.shape[1])[None, :] != y[:, None]], initial=np.inf)),
            backward=svm_backward)
    def svm_loss(x, y):
        return np.maximum(0, svm_margins(x, y)).sum() / x.shape[0]

    def softmax_backward(dout, x, y):
        n = x.shape[0]
        p = _softmax(x)
        p[np.arange(n), y] -= 1
        return dout * p / n

    @ops.op(inputs={"x": "N C", "y": "N"}, output="", convention="loss", batch="N",
            domains={"x": ROW_SCALED, "y": labels("C")}, backward=softmax_backward,
            overflow=("exp overflowed or a row's sum underflowed: shift each row by its own "
                      "maximum before exp (one maximum for the whole batch leaves rows far "
                      "below it at exp(-2000) = 0)"),
            mistakes=[Mistake("x", "the -1 at each row's label is missing",
                              lambda dout, x, y: dout * _softmax(x) / x.shape[0])])
    def softmax_loss(x, y):
        n = x.shape[0]
        shifted = x - x.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return -log_p[np.arange(n), y].mean()

    return ops
