# mistake: max sends the whole upstream to both inputs
# exercise: max
# hint: the whole upstream goes to both inputs
def max_backward(dout, x, y):
    return dout.copy(), dout.copy()
