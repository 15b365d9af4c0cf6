# variant: in-place updates on copies only
# exercises: relu mul add two_layer_net
def relu_backward(dout, x):
    dx = dout.copy()
    dx[x <= 0] = 0
    return dx


def mul_backward(dout, x, y):
    dx = np.array(dout)
    dx *= y
    dy = np.array(dout)
    dy *= x
    return dx, dy


def add_backward(dout, x, y):
    return dout.copy(), dout.copy()
