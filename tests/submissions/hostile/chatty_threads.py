# threat: leaves a chatty daemon thread and a spinning non-daemon thread behind
# exercise: -
import threading, time


def _chat():
    while True:
        print("still here")
        time.sleep(0.01)


def _spin():
    while True:
        pass


def add_backward(dout, x, y):
    threading.Thread(target=_chat, daemon=True).start()
    threading.Thread(target=_spin).start()
    return dout * 1.0, dout * 1.0
