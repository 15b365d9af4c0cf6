# mistake: max routes the gradient to the smaller input
# exercise: max
# hint: routed to the loser
def max_backward(dout, x, y):
    return dout * (x < y), dout * (y < x)
