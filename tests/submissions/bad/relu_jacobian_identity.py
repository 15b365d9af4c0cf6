# mistake: the Jacobian taken as the identity everywhere
# exercise: relu_jacobian
# hint: J is the identity
def relu_jacobian(x):
    return np.eye(len(x))
