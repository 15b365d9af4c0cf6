# mistake: returns the diagonal (a vector), not the Jacobian matrix
# exercise: relu_jacobian
# hint: the diagonal alone
def relu_jacobian(x):
    return (x > 0).astype(float)
