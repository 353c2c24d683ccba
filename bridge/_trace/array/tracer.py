"""Call the user's ``f(u, p, t)`` once with ``ArrayValue`` s and keep the array program.

``trace_arrays`` raises ``Unsupported`` for anything the array tracer does not keep whole
(the caller then traces with the scalar tracer, which handles the rest and reports what
cannot be traced at all). ``contraction_work`` measures what the scalar tracer would
unroll: the multiply-adds of the matrix products, which is what makes scalar traces of
neural networks grow with the number of parameters.

Example
-------
>>> import numpy as np
>>> def mlp(u, p, t):
...     return p[4:6] + p[:4].reshape(2, 2) @ np.tanh(u)
>>> tr = trace_arrays(mlp, 2, 6, None, "mlp")
>>> tr.out.op, tr.out.shape, contraction_work(tr)
('add', (2,), 4)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .graph import Graph, Node, Unsupported, norm_index
from .values import ArrayValue, as_node


@dataclass(frozen=True)
class ArrayTrace:
    """The traced program: its graph, the input nodes and the output node (shape (n,))."""

    name: str
    graph: Graph
    u: Node
    p: Node
    t: Node
    out: Node
    #: Switches on u or p the function used, with the user's lines (``tape.Switch``).
    switches: tuple[Any, ...] = ()


def _param_argument(g: Graph, p: Node, spec: Mapping[str, tuple[int, ...]] | None) -> Any:
    if spec is None:
        return ArrayValue(p, g, shared=True)
    named: dict[str, ArrayValue] = {}
    start = 0
    for key, shape in spec.items():
        size = math.prod(shape)
        piece = g.getitem(p, norm_index(slice(start, start + size), p.shape))
        named[key] = ArrayValue(g.reshape(piece, tuple(shape)), g, shared=True)
        start += size
    return named


def trace_arrays(
    func: Callable[..., Any],
    n_states: int,
    n_params: int,
    param_spec: Mapping[str, tuple[int, ...]] | None,
    name: str,
) -> ArrayTrace:
    """Trace ``func(u, p, t)`` into an ``ArrayTrace``, or raise ``Unsupported``."""
    g = Graph()
    u, p, t = g.input("u", (n_states,)), g.input("p", (n_params,)), g.input("t", ())
    args = (ArrayValue(u, g, shared=True), _param_argument(g, p, param_spec), ArrayValue(t, g))
    try:
        result = func(*args)
    except Unsupported:
        raise
    except Exception as exc:  # the scalar tracer calls it again and reports properly
        raise Unsupported(
            f"calling it with array values raised {type(exc).__name__}: {exc}"
        ) from exc
    if result is None:
        raise Unsupported("it returned None")
    out = as_node(g, result)
    if out.shape != (n_states,) or out.kind != "f":
        raise Unsupported(f"it returned shape {out.shape} ({out.kind}), expected ({n_states},)")
    return ArrayTrace(name, g, u, p, t, out, tuple(g.switches))


def needed(*outs: Node) -> list[Node]:
    """The nodes ``outs`` are computed from, in program order."""
    seen: dict[int, Node] = {}
    stack = list(outs)
    while stack:
        node = stack.pop()
        if node.index not in seen:
            seen[node.index] = node
            stack.extend(node.args)
    return sorted(seen.values(), key=lambda n: n.index)


def contraction_work(trace: ArrayTrace) -> int:
    """Multiply-adds in the matrix products of ``f`` (what scalar tracing would unroll)."""
    work = 0
    for node in needed(trace.out):
        if node.op == "matmul":
            work += max(1, node.size) * node.args[0].shape[-1]
        elif node.op == "outer":
            work += node.size
    return work


__all__ = ["ArrayTrace", "contraction_work", "needed", "trace_arrays"]
