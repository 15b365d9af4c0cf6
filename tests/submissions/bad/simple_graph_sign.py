# mistake: sign error on dz
# exercise: simple_graph
# hint: wrong sign
SIMPLE_GRAPH_GRADS = {"x": -4.0, "y": -4.0, "z": -3.0}
