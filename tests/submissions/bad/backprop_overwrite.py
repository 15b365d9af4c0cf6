# mistake: overwrites at fan-out instead of accumulating
# exercise: backprop
# hint: one path
def backprop(nodes, local_grads, output):
    order, seen = [], set()
    def visit(n):
        stack = [(n, iter(nodes[n]))]
        seen.add(n)
        while stack:
            name, it = stack[-1]
            c = next(it, None)
            if c is None:
                order.append(name); stack.pop()
            elif c not in seen:
                seen.add(c); stack.append((c, iter(nodes[c])))
    for n in nodes:
        if n not in seen:
            visit(n)
    grads = {n: 0.0 for n in nodes}
    grads[output] = 1.0
    for name in reversed(order):
        for c, g in zip(nodes[name], local_grads[name]):
            grads[c] = grads[name] * g
    return grads
