# threat: crashes while being imported: the statement is skipped, like one that raises
# exercise: -
import ctypes
ctypes.string_at(0)
