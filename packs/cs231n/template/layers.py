"""Layers of a neural network: forward and backward passes in numpy.

Every forward returns (out, cache): the cache holds whatever your backward will need, in
any form you like (the grader passes it back unchanged). Every backward takes
(dout, cache), where dout is the upstream gradient shaped like out, and returns the
gradient of each input, shaped like that input. The losses return (loss, dx). Do not
modify the arguments you are given. Check your work with `backprop check layers.py --pack
cs231n`.
"""

import numpy as np


def affine_forward(x, w, b):
    """A fully connected layer.

    x: (N, d_1, ..., d_k) -- each of the N examples is flattened to a row of D = d_1*...*d_k.
    w: (D, M) weights; b: (M,) biases.
    Returns (out, cache) with out of shape (N, M).
    """
    raise NotImplementedError


def affine_backward(dout, cache):
    """dout: (N, M). Returns (dx, dw, db), shaped like x (N, d_1, ..., d_k), w and b."""
    raise NotImplementedError


def relu_forward(x):
    """max(0, x) elementwise, any shape. Returns (out, cache)."""
    raise NotImplementedError


def relu_backward(dout, cache):
    """Returns dx, shaped like x."""
    raise NotImplementedError


def batchnorm_forward(x, gamma, beta, bn_param):
    """Batch normalisation of x (N, D), feature by feature.

    bn_param: a dict with "mode" ("train" or "test"), and optionally "eps" (default 1e-5)
    and "momentum" (default 0.9). In train mode, normalise each column with the batch's
    mean and variance (the biased one: divide by N), then scale by gamma (D,) and shift by
    beta (D,); also update bn_param["running_mean"] and bn_param["running_var"] (zeros when
    absent) as running = momentum * running + (1 - momentum) * batch statistic. In test
    mode, normalise with the running averages instead. Returns (out, cache).
    """
    raise NotImplementedError


def batchnorm_backward(dout, cache):
    """dout: (N, D). Returns (dx, dgamma, dbeta). The mean and the variance depend on x
    too: dx has a path through each of them."""
    raise NotImplementedError


def batchnorm_backward_alt(dout, cache):
    """The same as batchnorm_backward, simplified on paper into one expression for dx."""
    raise NotImplementedError


def layernorm_forward(x, gamma, beta, ln_param):
    """Layer normalisation of x (N, D): normalise each row (one example's features) with
    its own mean and variance, then scale by gamma (D,) and shift by beta (D,).
    ln_param: a dict with optionally "eps" (default 1e-5). Returns (out, cache)."""
    raise NotImplementedError


def layernorm_backward(dout, cache):
    """dout: (N, D). Returns (dx, dgamma, dbeta)."""
    raise NotImplementedError


def dropout_forward(x, dropout_param):
    """Inverted dropout.

    dropout_param: a dict with "p" (the probability of keeping each entry), "mode" ("train"
    or "test") and optionally "seed": when given, call np.random.seed(seed) first, so that
    the same seed drops the same entries. In train mode, keep each entry with probability p
    and divide the kept ones by p (so that the output's expectation is x); in test mode,
    return x unchanged. Returns (out, cache).
    """
    raise NotImplementedError


def dropout_backward(dout, cache):
    """Returns dx: the gradient through the same entries the forward kept."""
    raise NotImplementedError


def conv_forward_naive(x, w, b, conv_param):
    """A convolution layer, written with loops.

    x: (N, C, H, W); w: (F, C, HH, WW) filters; b: (F,).
    conv_param: a dict with "stride" and "pad": pad x with pad zeros on every side of its
    height and width, then slide each filter stride entries at a time.
    Returns (out, cache) with out of shape (N, F, H', W'),
    H' = 1 + (H + 2 * pad - HH) // stride and W' = 1 + (W + 2 * pad - WW) // stride.
    """
    raise NotImplementedError


def conv_backward_naive(dout, cache):
    """dout: (N, F, H', W'). Returns (dx, dw, db) shaped like x, w and b. Windows may
    overlap: an input entry collects the gradient of every window it lies in."""
    raise NotImplementedError


def max_pool_forward_naive(x, pool_param):
    """Max pooling, written with loops.

    x: (N, C, H, W). pool_param: a dict with "pool_height", "pool_width" and "stride".
    Returns (out, cache) with out of shape (N, C, H', W'),
    H' = 1 + (H - pool_height) // stride and W' = 1 + (W - pool_width) // stride.
    """
    raise NotImplementedError


def max_pool_backward_naive(dout, cache):
    """Returns dx shaped like x: each window's upstream goes to the entry that was its
    maximum; windows may overlap."""
    raise NotImplementedError


def svm_loss(x, y):
    """Multiclass SVM loss with margin 1.

    x: (N, C) scores; y: (N,) labels, 0 <= y[i] < C.
    Returns (loss, dx): the loss averaged over the N examples, and its gradient (N, C).
    """
    raise NotImplementedError


def softmax_loss(x, y):
    """Softmax cross-entropy loss.

    x: (N, C) scores; y: (N,) labels, 0 <= y[i] < C.
    Returns (loss, dx): the loss averaged over the N examples, and its gradient (N, C).
    """
    raise NotImplementedError
