# threat: a gate makes numpy raise on overflow, which correct gates meet on extreme inputs
# exercise: -
def add_backward(dout, x, y):
    np.seterr(all="raise")
    return dout * 1.0, dout * 1.0
