# mistake: sign error on dz
# exercise: simple_graph
# hint: df/dz is wrong: z enters f = mul(q, z)
SIMPLE_GRAPH_GRADS = {"x": -4.0, "y": -4.0, "z": -3.0}
