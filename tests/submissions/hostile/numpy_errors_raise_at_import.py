# threat: a debugging line at the top makes numpy raise on overflow, which correct gates meet on extreme inputs
# exercise: -
np.seterr(all="raise")
