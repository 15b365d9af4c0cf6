# exercise: max_pool_backward_naive
# hint: where overlapping windows need `+=`
def max_pool_backward_naive(dout, cache):
    x, pool_param = cache
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    dx = np.zeros_like(x)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            window = x[:, :, i * s:i * s + ph, j * s:j * s + pw]
            hit = window == window.max(axis=(2, 3), keepdims=True)
            dx[:, :, i * s:i * s + ph, j * s:j * s + pw] = hit * dout[:, :, i, j][:, :, None, None]
    return dx
