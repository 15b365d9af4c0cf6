# variant: returns lists instead of tuples; numpy scalars in dicts
# exercises: add mul max backprop simple_graph
def add_backward(dout, x, y):
    return [dout * 1.0, dout * 1.0]


def mul_backward(dout, x, y):
    return [np.multiply(dout, y), np.multiply(dout, x)]


def max_backward(dout, x, y):
    return [dout * np.greater(x, y), dout * np.greater_equal(y, x)]


_correct_backprop = backprop


def backprop(nodes, local_grads, output):
    return {k: np.float64(v) for k, v in _correct_backprop(nodes, local_grads, output).items()}


SIMPLE_GRAPH_GRADS = {"x": np.float64(-4), "y": np.int64(-4), "z": 3}
