"""The lecture's course pack: the built-in pack's ops, pure numpy. It imports only the
grader's authoring API, like any pack.

`gates` declares every gate (forward and local backward side by side) in the table `OPS`,
with the mistakes of `mistakes`; `graph` holds the graph engine (topological order,
upstream x local, accumulation at fan-out).
"""

from reference.gates import OPS
from reference.graph import Graph, backprop, topological_order

__all__ = ["OPS", "Graph", "backprop", "topological_order"]
