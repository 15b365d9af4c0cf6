"""Trusted ground truth for backprop-grader: pure numpy, no grader imports.

`gates` holds every gate (forward and local backward side by side); `graph` holds the
graph engine (topological order, upstream x local, accumulation at fan-out).
"""

from reference.gates import GATES, FUNCTIONS, Gate, Function, get_gate
from reference.graph import Graph, backprop, topological_order

__all__ = ["GATES", "FUNCTIONS", "Gate", "Function", "get_gate", "Graph", "backprop",
           "topological_order"]
