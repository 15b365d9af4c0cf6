# mistake: max splits the upstream in half like an average
# exercise: max
# hint: splitting it in half
def max_backward(dout, x, y):
    return dout * 0.5, dout * 0.5
