# mistake: ReLU gradient clamped to be non-negative
# exercise: relu
# hint: clamped
def relu_backward(dout, x):
    return np.maximum(dout * (x > 0), 0)
