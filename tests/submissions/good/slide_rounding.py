# variant: worked examples rounded like the slides
# exercises: simple_graph sigmoid_neuron gate_patterns
SIMPLE_GRAPH_GRADS = {"x": -4, "y": -4, "z": 3}
SIGMOID_NEURON_GRADS = {"w0": -0.20, "x0": 0.40, "w1": -0.40, "x1": -0.60, "w2": 0.20}
GATE_PATTERNS_GRADS = {"x": -8, "y": 6, "z": 2, "w": 0.0}
