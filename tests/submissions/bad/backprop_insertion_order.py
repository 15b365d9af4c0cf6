# mistake: assumes the nodes come in topological order
# exercise: backprop
# hint: sort the nodes topologically
def backprop(nodes, local_grads, output):
    grads = {n: 0.0 for n in nodes}
    grads[output] = 1.0
    for name in reversed(list(nodes)):
        for c, g in zip(nodes[name], local_grads[name]):
            grads[c] += grads[name] * g
    return grads
