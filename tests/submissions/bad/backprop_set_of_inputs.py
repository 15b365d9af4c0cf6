# mistake: treats the inputs of a node as a set, so x * x counts x once
# exercise: backprop
# hint: appears twice among the inputs
def backprop(nodes, local_grads, output):
    order, seen = [], set()
    for root in nodes:
        if root in seen:
            continue
        stack = [(root, iter(nodes[root]))]
        seen.add(root)
        while stack:
            name, it = stack[-1]
            c = next(it, None)
            if c is None:
                order.append(name); stack.pop()
            elif c not in seen:
                seen.add(c); stack.append((c, iter(nodes[c])))
    grads = {n: 0.0 for n in nodes}
    grads[output] = 1.0
    for name in reversed(order):
        for c, g in dict(zip(nodes[name], local_grads[name])).items():
            grads[c] += grads[name] * g
    return grads
