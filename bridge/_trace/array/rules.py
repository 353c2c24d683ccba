"""Derivatives of array programs from one rule per operation: reverse and forward sweeps.

``reverse(g, out, seed, wrt)`` builds the adjoint program of ``out`` seeded with ``seed``
(a node shaped like ``out``, the cotangent ``v``): one sweep backwards over the nodes that
depend on the inputs in ``wrt``, applying each operation's vector-Jacobian rule to whole
arrays (``W @ x`` gives ``outer(g, x)`` and ``g @ W``; a slice gives its adjoint back as a
piece of an ``assemble``). ``forward(g, out, tangents)`` builds the tangent program
(Jacobian-vector products) the same way with the Jacobian-vector rules. Both add nodes to
the same graph, so the derivative programs refer to the primal values they need and share
them with each other; no per-element or per-parameter expression is ever built.

Elementwise operations are differentiated through their partial derivatives (the
``partials`` column of the operation table): the adjoint of argument ``i`` is
``unbroadcast(g * ∂out/∂arg_i)`` and the tangent is ``Σ ∂out/∂arg_i * t_i``. A partial is a
node, or a ``Select(cond, first)`` for operations that pass one argument through
(``where``, ``minimum``, ``maximum``, ``clip``): the adjoint is then ``where(cond, g, 0)``,
which stays 0 where the other branch is infinite (a product with a 0/1 mask would be NaN).

Example
-------
>>> from bridge._trace.array.graph import Graph, U
>>> g = Graph()
>>> u, v = g.input("u", (3,)), g.input("v", (3,))
>>> y = g.ew("tanh", u)
>>> reverse(g, y, v, U)["u"].op
'multiply'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..ops import OPS
from .graph import Graph, Index, Node, Unsupported, index_shape, without_newaxes


@dataclass(frozen=True)
class Select:
    """A partial derivative that is 1 where ``cond`` is ``first`` and 0 elsewhere."""

    cond: Node
    first: bool


Partial = Node | Select | None


def partials(g: Graph, node: Node, need: tuple[bool, ...]) -> tuple[Partial, ...]:
    """∂node/∂arg for each argument whose ``need`` is True (None where it is zero)."""
    op = OPS.get(node.op)
    rule: Callable[..., tuple[Partial, ...]] | None = None if op is None else op.partials
    if rule is None:
        raise Unsupported(f"no derivative rule for {node.op}")
    out = rule(_Rules(g), node, *node.args)
    return tuple(p if n else None for p, n in zip(out, need, strict=True))


class _Rules:
    """The small vocabulary the partial-derivative rules are written in."""

    def __init__(self, g: Graph) -> None:
        self.g = g

    def c(self, value: float) -> Node:
        return self.g.scalar(value)

    def __getattr__(self, name: str) -> Callable[..., Node]:
        # d.tanh(x), d.multiply(a, b), ...: any elementwise operation of the table.
        g = self.g

        def apply(*args: Any) -> Node:
            return g.ew(name, *(a if isinstance(a, Node) else g.scalar(a) for a in args))

        return apply

    def select(self, cond: Node, first: bool = True) -> Select:
        return Select(cond, first)


def unbroadcast(g: Graph, x: Node, shape: tuple[int, ...]) -> Node:
    """Sum ``x`` down to ``shape`` (the adjoint of NumPy broadcasting)."""
    if x.shape == shape:
        return x
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and x.shape[lead + i] != 1
    )
    return g.reshape(g.sum(x, axes), shape)


def _apply(g: Graph, partial: Partial, seed: Node) -> Node:
    if isinstance(partial, Select):
        zero = g.scalar(0.0)
        return g.ew("where", partial.cond, *((seed, zero) if partial.first else (zero, seed)))
    assert partial is not None
    return g.ew("multiply", seed, partial)


def _inverse(perm: tuple[int, ...]) -> tuple[int, ...]:
    out = [0] * len(perm)
    for i, p in enumerate(perm):
        out[p] = i
    return tuple(out)


def _axis_slice(shape: tuple[int, ...], axis: int, start: int, stop: int) -> Index:
    return tuple(
        ("s", start, stop, 1) if i == axis else ("s", 0, n, 1) for i, n in enumerate(shape)
    )


class _Adjoints:
    """Adjoint contributions per node: whole arrays, and pieces at an index (from slices)."""

    def __init__(self, g: Graph) -> None:
        self.g = g
        self.dense: dict[int, list[Node]] = {}
        self.pieces: dict[int, list[tuple[Index, Node]]] = {}

    def add(self, node: Node, contribution: Node) -> None:
        self.dense.setdefault(node.index, []).append(contribution)

    def add_piece(self, node: Node, index: Index, value: Node) -> None:
        plain = without_newaxes(index)
        value = self.g.reshape(value, index_shape(plain))
        self.pieces.setdefault(node.index, []).append((plain, value))

    def total(self, node: Node) -> Node | None:
        g = self.g
        parts = list(self.dense.pop(node.index, []))
        pieces = self.pieces.pop(node.index, [])
        if pieces:
            pieces.sort(key=lambda piece: _start(piece[0]))  # in memory order: easier to read
            parts.append(g.assemble(node.shape, pieces))
        if not parts:
            return None
        out = parts[0]
        for p in parts[1:]:
            out = g.ew("add", out, p)
        return out


def _start(index: Index) -> tuple[int, ...]:
    return tuple(e[1] for e in index)


def _reachable(out: Node, bits: int) -> list[Node]:
    seen: dict[int, Node] = {}
    stack = [out]
    while stack:
        node = stack.pop()
        if node.index in seen or not node.deps & bits or node.kind != "f":
            continue
        seen[node.index] = node
        stack.extend(node.args)
    return sorted(seen.values(), key=lambda n: n.index)


def reverse(g: Graph, out: Node, seed: Node, wrt: int) -> dict[str, Node | None]:
    """Adjoints of the inputs in ``wrt`` (bits) for the cotangent ``seed`` of ``out``."""
    adjoints = _Adjoints(g)
    adjoints.add(out, seed)
    result: dict[str, Node | None] = {}
    for node in reversed(_reachable(out, wrt)):
        grad = adjoints.total(node)
        if grad is None:
            continue
        if node.op == "input":
            result[node.attrs[0]] = grad
            continue
        _vjp(g, node, grad, adjoints, wrt)
    return result


def _wanted(node: Node, wrt: int) -> tuple[bool, ...]:
    return tuple(bool(a.deps & wrt) and a.kind == "f" for a in node.args)


def _vjp(g: Graph, node: Node, grad: Node, adj: _Adjoints, wrt: int) -> None:
    op, args = node.op, node.args
    need = _wanted(node, wrt)
    if op == "matmul":
        a, b = args
        if a.ndim == 2 and b.ndim == 1:
            pairs = [(a, lambda: g.outer(grad, b)), (b, lambda: g.matmul(grad, a))]
        elif a.ndim == 1 and b.ndim == 2:
            pairs = [(a, lambda: g.matmul(b, grad)), (b, lambda: g.outer(a, grad))]
        elif a.ndim == 2:
            pairs = [
                (a, lambda: g.matmul(grad, g.transpose(b))),
                (b, lambda: g.matmul(g.transpose(a), grad)),
            ]
        else:
            pairs = [
                (a, lambda: g.ew("multiply", grad, b)),
                (b, lambda: g.ew("multiply", grad, a)),
            ]
        for (arg, make), wanted in zip(pairs, need, strict=True):
            if wanted:
                adj.add(arg, make())
    elif op == "outer":
        a, b = args
        if need[0]:
            adj.add(a, g.matmul(grad, b))
        if need[1]:
            adj.add(b, g.matmul(a, grad))
    elif op == "sum":
        (a,) = args
        (axes,) = node.attrs
        kept = tuple(1 if i in axes else s for i, s in enumerate(a.shape))
        # A scalar broadcasts as it is; an array needs its summed axes back (as ones).
        spread = grad if grad.shape == () else g.reshape(grad, kept)
        adj.add(a, g.broadcast_to(spread, a.shape))
    elif op == "reshape":
        adj.add(args[0], g.reshape(grad, args[0].shape))
    elif op == "transpose":
        adj.add(args[0], g.transpose(grad, _inverse(node.attrs[0])))
    elif op == "broadcast_to":
        adj.add(args[0], unbroadcast(g, grad, args[0].shape))
    elif op == "getitem":
        adj.add_piece(args[0], node.attrs[0], grad)
    elif op == "concat":
        (axis,) = node.attrs
        start = 0
        for part, wanted in zip(args, need, strict=True):
            stop = start + part.shape[axis]
            if wanted:
                adj.add(part, g.getitem(grad, _axis_slice(node.shape, axis, start, stop)))
            start = stop
    elif op == "pack":
        for k, (part, wanted) in enumerate(zip(args, need, strict=True)):
            if wanted:
                adj.add(part, g.getitem(grad, (("i", k),)))
    elif op == "setitem":
        base, value = args
        (index,) = node.attrs
        if need[0]:
            adj.add(base, g.setitem(grad, index, g.scalar(0.0)))
        if need[1]:
            adj.add(value, unbroadcast(g, g.getitem(grad, index), value.shape))
    elif op == "assemble":
        (indices,) = node.attrs
        for part, index, wanted in zip(args, indices, need, strict=True):
            if wanted:
                adj.add(part, g.getitem(grad, index))
    else:
        for arg, partial in zip(args, partials(g, node, need), strict=True):
            if partial is not None:
                adj.add(arg, unbroadcast(g, _apply(g, partial, grad), arg.shape))


def forward(g: Graph, out: Node, tangents: dict[str, Node]) -> Node | None:
    """The tangent of ``out`` for tangents of some inputs (by name): Jacobian-vector products."""
    bits = 0
    for node in g.nodes:
        if node.op == "input" and node.attrs[0] in tangents:
            bits |= node.deps
    tangent: dict[int, Node | None] = {}
    for node in _reachable(out, bits):
        if node.op == "input":
            tangent[node.index] = tangents.get(node.attrs[0])
        else:
            tangent[node.index] = _jvp(g, node, [tangent.get(a.index) for a in node.args])
    return tangent.get(out.index)


def _zeros_if_none(g: Graph, t: Node | None, like: Node) -> Node:
    return t if t is not None else g.full(like.shape, 0.0)


def _jvp(g: Graph, node: Node, ts: list[Node | None]) -> Node | None:
    op, args = node.op, node.args
    if all(t is None for t in ts):
        return None
    if op in ("matmul", "outer"):
        a, b = args
        make = g.matmul if op == "matmul" else g.outer
        terms = []
        if ts[0] is not None:
            terms.append(make(ts[0], b))
        if ts[1] is not None:
            terms.append(make(a, ts[1]))
        return _sum_terms(g, terms, node.shape)
    if op == "sum":
        return g.sum(ts[0], node.attrs[0])  # type: ignore[arg-type]
    if op == "reshape":
        return g.reshape(ts[0], node.shape)  # type: ignore[arg-type]
    if op == "transpose":
        return g.transpose(ts[0], node.attrs[0])  # type: ignore[arg-type]
    if op == "broadcast_to":
        return g.broadcast_to(ts[0], node.shape)  # type: ignore[arg-type]
    if op == "getitem":
        return g.getitem(ts[0], node.attrs[0])  # type: ignore[arg-type]
    if op == "concat":
        return g.concat(
            [_zeros_if_none(g, t, a) for t, a in zip(ts, args, strict=True)], node.attrs[0]
        )
    if op == "pack":
        return g.pack([t if t is not None else g.scalar(0.0) for t in ts])
    if op == "setitem":
        base = _zeros_if_none(g, ts[0], args[0])
        value = ts[1] if ts[1] is not None else g.scalar(0.0)
        return g.setitem(base, node.attrs[0], value)
    if op == "assemble":
        (indices,) = node.attrs
        kept = [(i, t) for i, t in zip(indices, ts, strict=True) if t is not None]
        return g.assemble(node.shape, kept)
    need = tuple(t is not None and a.kind == "f" for t, a in zip(ts, args, strict=True))
    terms = []
    for t, partial in zip(ts, partials(g, node, need), strict=True):
        if partial is not None and t is not None:
            terms.append(_apply(g, partial, t))
    return _sum_terms(g, terms, node.shape)


def _sum_terms(g: Graph, terms: list[Node], shape: tuple[int, ...]) -> Node | None:
    if not terms:
        return None
    out = terms[0]
    for t in terms[1:]:
        out = g.ew("add", out, t)
    return g.broadcast_to(out, shape)


__all__ = ["Select", "forward", "partials", "reverse", "unbroadcast"]
