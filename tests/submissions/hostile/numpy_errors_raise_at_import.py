# threat: a top-level debugging line makes numpy raise on overflow (correct gates meet it)
# exercise: -
np.seterr(all="raise")
