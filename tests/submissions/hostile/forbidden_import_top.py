# mode: full
# threat: imports a forbidden framework at the top
# exercise: *
# status: error
# message: imports torch, which this course forbids
import torch
