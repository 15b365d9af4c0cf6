# exercise: dropout_backward
# hint: times the right value
def dropout_backward(dout, cache):
    dropout_param, mask = cache
    if dropout_param["mode"] == "train":
        return dout * (mask > 0)
    return dout
