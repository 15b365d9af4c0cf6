# exercise: svm_loss
# hint: divide by N
def svm_loss(x, y):
    N = x.shape[0]
    margins = np.maximum(0, x - x[np.arange(N), y][:, None] + 1.0)
    margins[np.arange(N), y] = 0
    positive = (margins > 0).astype(float)
    positive[np.arange(N), y] = -positive.sum(axis=1)
    return margins.sum(), positive
