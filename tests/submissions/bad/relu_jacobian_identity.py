# mistake: the Jacobian taken as the identity everywhere
# exercise: relu_jacobian
# hint: J is wrong at
def relu_jacobian(x):
    return np.eye(len(x))
