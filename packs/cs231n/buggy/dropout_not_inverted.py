# exercise: dropout_forward
# hint: averages
def dropout_forward(x, dropout_param):
    p, mode = dropout_param["p"], dropout_param["mode"]
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])
    if mode == "train":
        mask = np.random.rand(*x.shape) < p
        return x * mask, (dropout_param, mask)
    return x, (dropout_param, None)
