# threat: a segmentation fault through ctypes
# exercise: sigmoid
# status: error
# message: crashed with SIGSEGV
import ctypes


def sigmoid_backward(dout, x):
    ctypes.string_at(0)
