# mistake: sign error in d(1/x)
# exercise: reciprocal
# hint: wrong sign
def reciprocal_backward(dout, x):
    return dout / x**2
