# mistake: returns the diagonal (a vector), not the Jacobian matrix
# exercise: relu_jacobian
# hint: has shape
def relu_jacobian(x):
    return (x > 0).astype(float)
