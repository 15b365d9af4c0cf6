# mistake: forgot to multiply by the upstream gradient
# exercise: max
# hint: ignores the upstream gradient
def max_backward(dout, x, y):
    return (x > y) * 1.0, (y > x) * 1.0
