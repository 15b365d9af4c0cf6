# mistake: the add gate splits the upstream in half
# exercise: add
# hint: 1/2 times the right value
def add_backward(dout, x, y):
    return dout / 2, dout / 2
