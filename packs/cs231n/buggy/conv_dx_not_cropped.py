# exercise: conv_backward_naive
# hint: crop the padding
def conv_backward_naive(dout, cache):
    x, w, b, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    _, _, HH, WW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            rows, cols = slice(i * stride, i * stride + HH), slice(j * stride, j * stride + WW)
            dxp[:, :, rows, cols] += np.tensordot(dout[:, :, i, j], w, axes=(1, 0))
            dw += np.tensordot(dout[:, :, i, j], xp[:, :, rows, cols], axes=(0, 0))
    return dxp, dw, dout.sum(axis=(0, 2, 3))
