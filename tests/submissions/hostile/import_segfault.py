# mode: full
# threat: crashes while being imported
# exercise: *
# status: error
# message: crashed with SIGSEGV
import ctypes
ctypes.string_at(0)
