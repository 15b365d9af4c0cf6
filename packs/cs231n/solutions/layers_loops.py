"""Also correct, written as many students do: explicit loops, a staged batchnorm backward,
and float32 results where that loses nothing the tolerance cares about."""

import numpy as np


def affine_forward(x, w, b):
    N = x.shape[0]
    out = np.dot(x.reshape(N, np.prod(x.shape[1:])), w) + b
    return out.astype(np.float32), (x, w, b)


def affine_backward(dout, cache):
    x, w, b = cache
    N = x.shape[0]
    dx = np.dot(dout, w.T).reshape(*x.shape)
    dw = np.dot(x.reshape(N, -1).T, dout)
    db = np.sum(dout, axis=0)
    return dx, dw, db


def relu_forward(x):
    out = x.copy()
    out[out < 0] = 0
    return out, x


def relu_backward(dout, cache):
    dx = dout.copy()
    dx[cache <= 0] = 0
    return dx


def batchnorm_forward(x, gamma, beta, bn_param):
    eps, momentum = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    N, D = x.shape
    rm = bn_param.get("running_mean", np.zeros(D))
    rv = bn_param.get("running_var", np.zeros(D))
    if bn_param["mode"] == "train":
        mu = np.sum(x, axis=0) / N
        xc = x - mu
        var = np.sum(xc ** 2, axis=0) / N
        inv = 1.0 / np.sqrt(var + eps)
        xhat = xc * inv
        out = gamma * xhat + beta
        cache = (xc, var, inv, xhat, gamma, eps)
        bn_param["running_mean"] = momentum * rm + (1 - momentum) * mu
        bn_param["running_var"] = momentum * rv + (1 - momentum) * var
        return out, cache
    return gamma * (x - rm) / np.sqrt(rv + eps) + beta, None


def batchnorm_backward(dout, cache):
    # the staged graph, one node at a time
    xc, var, inv, xhat, gamma, eps = cache
    N = dout.shape[0]
    dbeta = np.sum(dout, axis=0)
    dgamma = np.sum(dout * xhat, axis=0)
    dxhat = dout * gamma
    dinv = np.sum(dxhat * xc, axis=0)
    dxc = dxhat * inv
    dsqrt = -dinv / (var + eps)
    dvar = 0.5 * dsqrt / np.sqrt(var + eps)
    dsq = np.ones_like(xc) * dvar / N
    dxc += 2 * xc * dsq
    dmu = -np.sum(dxc, axis=0)
    dx = dxc + np.ones_like(xc) * dmu / N
    return dx, dgamma, dbeta


def batchnorm_backward_alt(dout, cache):
    xc, var, inv, xhat, gamma, eps = cache
    N = dout.shape[0]
    dgamma = np.sum(dout * xhat, axis=0)
    dbeta = np.sum(dout, axis=0)
    dx = gamma * inv / N * (N * dout - dbeta - xhat * dgamma)
    return dx, dgamma, dbeta


def layernorm_forward(x, gamma, beta, ln_param):
    out, cache = batchnorm_forward(x.T, np.ones(x.shape[0]), np.zeros(x.shape[0]),
                                   {"mode": "train", "eps": ln_param.get("eps", 1e-5)})
    return gamma * out.T + beta, (cache, gamma, out.T)


def layernorm_backward(dout, cache):
    inner, gamma, xhat = cache
    dgamma = np.sum(dout * xhat, axis=0)
    dbeta = np.sum(dout, axis=0)
    dx, _, _ = batchnorm_backward((dout * gamma).T, inner)
    return dx.T, dgamma, dbeta


def dropout_forward(x, dropout_param):
    p, mode = dropout_param["p"], dropout_param["mode"]
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])
    if mode == "train":
        mask = (np.random.rand(*x.shape) < p) / p
        return x * mask, (dropout_param, mask)
    return x, (dropout_param, None)


def dropout_backward(dout, cache):
    dropout_param, mask = cache
    return dout * mask if dropout_param["mode"] == "train" else dout


def conv_forward_naive(x, w, b, conv_param):
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    xp = np.pad(x, ((0,), (0,), (pad,), (pad,)), mode="constant")
    Ho, Wo = 1 + (H + 2 * pad - HH) // stride, 1 + (W + 2 * pad - WW) // stride
    out = np.zeros((N, F, Ho, Wo))
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    window = xp[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]
    return out, (x, w, b, conv_param)


def conv_backward_naive(dout, cache):
    x, w, b, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    xp = np.pad(x, ((0,), (0,), (pad,), (pad,)), mode="constant")
    dxp, dw, db = np.zeros_like(xp), np.zeros_like(w), np.zeros_like(b)
    for n in range(N):
        for f in range(F):
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    rows = slice(i * stride, i * stride + HH)
                    cols = slice(j * stride, j * stride + WW)
                    dxp[n, :, rows, cols] += w[f] * dout[n, f, i, j]
                    dw[f] += xp[n, :, rows, cols] * dout[n, f, i, j]
                    db[f] += dout[n, f, i, j]
    return dxp[:, :, pad:-pad, pad:-pad], dw, db


def max_pool_forward_naive(x, pool_param):
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H, W = x.shape
    out = np.zeros((N, C, 1 + (H - ph) // s, 1 + (W - pw) // s))
    for n in range(N):
        for c in range(C):
            for i in range(out.shape[2]):
                for j in range(out.shape[3]):
                    out[n, c, i, j] = np.max(x[n, c, i * s:i * s + ph, j * s:j * s + pw])
    return out, (x, pool_param)


def max_pool_backward_naive(dout, cache):
    x, pool_param = cache
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    dx = np.zeros_like(x)
    N, C = x.shape[:2]
    for n in range(N):
        for c in range(C):
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    window = x[n, c, i * s:i * s + ph, j * s:j * s + pw]
                    a, b2 = np.unravel_index(np.argmax(window), window.shape)
                    dx[n, c, i * s + a, j * s + b2] += dout[n, c, i, j]
    return dx


def svm_loss(x, y):
    N, C = x.shape
    loss, dx = 0.0, np.zeros_like(x)
    for i in range(N):
        for j in range(C):
            if j == y[i]:
                continue
            margin = x[i, j] - x[i, y[i]] + 1
            if margin > 0:
                loss += margin
                dx[i, j] += 1
                dx[i, y[i]] -= 1
    return loss / N, dx / N


def softmax_loss(x, y):
    N = x.shape[0]
    loss, dx = 0.0, np.zeros_like(x)
    for i in range(N):
        scores = x[i] - np.max(x[i])
        p = np.exp(scores) / np.sum(np.exp(scores))
        loss -= np.log(p[y[i]])
        dx[i] = p
        dx[i, y[i]] -= 1
    return loss / N, dx / N
