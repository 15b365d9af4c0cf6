# mistake: recursive traversal: fine on small graphs, fails on deep chains
# exercise: backprop
# hint: RecursionError
def backprop(nodes, local_grads, output):
    order, seen = [], set()
    def visit(n):
        if n in seen:
            return
        seen.add(n)
        for c in nodes[n]:
            visit(c)
        order.append(n)
    visit(output)
    grads = {n: 0.0 for n in nodes}
    grads[output] = 1.0
    for name in reversed(order):
        for c, g in zip(nodes[name], local_grads[name]):
            grads[c] += grads[name] * g
    return grads
