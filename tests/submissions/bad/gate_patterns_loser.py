# mistake: max routed to the loser in the worked example
# exercise: gate_patterns
# hint: df/dz is wrong: z enters m = max(z, w), where a max gate routes
GATE_PATTERNS_GRADS = {"x": -8.0, "y": 6.0, "z": 0.0, "w": 2.0}
