# mistake: treats the inputs of a node as a set, so x * x counts x once
# exercise: backprop
# hint: appears twice among the inputs
def backprop(nodes, local_grads, output):
    grads = {n: 0.0 for n in nodes}
    grads[output] = 1.0
    for name in reversed(topological_order(nodes)):
        for c, g in dict(zip(nodes[name], local_grads[name])).items():
            grads[c] += grads[name] * g
    return grads
