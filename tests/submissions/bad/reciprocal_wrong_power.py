# mistake: d(1/x) taken as -1/x
# exercise: reciprocal
# hint: the power rule is misapplied to 1/x
def reciprocal_backward(dout, x):
    return -dout / x
