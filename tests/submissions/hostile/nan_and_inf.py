# threat: NaN and inf returned
# exercise: sigmoid
# status: (partial|failed)
# message: nan/inf entries
def sigmoid_backward(dout, x):
    return dout * np.where(x > 0, np.inf, np.nan)
