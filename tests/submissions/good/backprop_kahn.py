# variant: backprop with Kahn in-degree counting instead of a DFS
# exercises: backprop
def backprop(nodes, local_grads, output):
    from collections import deque
    users = {n: 0 for n in nodes}
    for name, inputs in nodes.items():
        for i in inputs:
            users[i] += 1
    grads = {n: 0.0 for n in nodes}
    grads[output] = 1.0
    ready = deque(n for n, k in users.items() if k == 0)
    while ready:
        name = ready.popleft()
        for i, g in zip(nodes[name], local_grads[name]):
            grads[i] += grads[name] * g
            users[i] -= 1
            if users[i] == 0:
                ready.append(i)
    return grads
