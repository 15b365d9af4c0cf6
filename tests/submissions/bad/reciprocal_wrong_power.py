# mistake: d(1/x) taken as -1/x
# exercise: reciprocal
# hint: -1/x**2, not -1/x
def reciprocal_backward(dout, x):
    return -dout / x
