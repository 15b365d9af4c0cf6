# mistake: stops the chain at the sigmoid (uses 0.73 instead of 0.2)
# exercise: sigmoid_neuron
# hint: df/dw0 is wrong: w0 enters a = mul(w0, x0)
SIGMOID_NEURON_GRADS = {"w0": -0.73, "x0": 1.46, "w1": -1.46, "x1": -2.19, "w2": 0.73}
