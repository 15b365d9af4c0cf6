# mistake: swapped multiplier (each input uses itself)
# exercise: mul
# hint: the multiply gate swaps its inputs
def mul_backward(dout, x, y):
    return dout * x, dout * y
