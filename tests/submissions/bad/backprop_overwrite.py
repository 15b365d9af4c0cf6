# mistake: overwrites at fan-out instead of accumulating
# exercise: backprop
# hint: one path
def backprop(nodes, local_grads, output):
    grads = {n: 0.0 for n in nodes}
    grads[output] = 1.0
    for name in reversed(topological_order(nodes)):
        for c, g in zip(nodes[name], local_grads[name]):
            grads[c] = grads[name] * g
    return grads
