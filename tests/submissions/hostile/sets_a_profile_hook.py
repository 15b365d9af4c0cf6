# threat: a gate installs a profile hook that raises in the functions of later gates
# exercise: -
import sys


def _hook(frame, event, arg):
    if event == "call" and frame.f_code.co_name.endswith("_backward") and \
            frame.f_code.co_name != "add_backward":
        raise RuntimeError("raised by the hook add_backward left")


def add_backward(dout, x, y):
    sys.setprofile(_hook)
    return dout * 1.0, dout * 1.0
