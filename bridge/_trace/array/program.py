"""Generated functions as schedules that every printer prints the same way.

A ``Program`` is one generated function (``f``, ``vjp``, ``vjp_p``, ``jvp``): the nodes it
computes as named statements, in order, then the writes of its result into the output
array. The schedule is decided here, once, so the NumPy and Julia printers emit the same
statements line for line:

* inputs, constants and scalars are printed where they are used;
* a view (slice, reshape, transpose) or an elementwise operation used once is printed
  inside its user, so a chain of elementwise operations becomes one fused expression
  (one broadcast in Julia); used twice, it becomes a statement;
* matrix products, sums, concatenations... are statements, except that the result and
  its parts are written straight into the output (destination passing): ``mul!`` into a
  reshaped view of ``out`` for a weight's adjoint, ``out .= ...`` for an elementwise
  result, one write per piece of a parameter adjoint.

Destinations (``Dest``) are the output array, an index of a destination, or a C-order
reshape of one (only of a C-contiguous destination, where NumPy's reshape is a view).

Example
-------
>>> from bridge._trace.array.tracer import trace_arrays
>>> tr = trace_arrays(lambda u, p, t: np.tanh(p[:4].reshape(2, 2) @ u), 2, 4, None, "f")
>>> prog = build_programs(tr)["f"]
>>> [n.op for n in prog.statements], [w.node.op for w in prog.writes]
(['matmul'], ['tanh'])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .graph import Graph, Index, Node, P, U, as_slices
from .rules import forward, reverse
from .tracer import ArrayTrace, needed

LEAVES = frozenset({"input", "scalar", "const"})
ELEMENTWISE_EXCLUDED = frozenset(
    {
        "input",
        "scalar",
        "const",
        "full",
        "matmul",
        "outer",
        "sum",
        "reshape",
        "transpose",
        "broadcast_to",
        "getitem",
        "concat",
        "pack",
        "setitem",
        "assemble",
    }
)


def is_elementwise(node: Node) -> bool:
    return node.op not in ELEMENTWISE_EXCLUDED


@dataclass(frozen=True)
class Dest:
    """Where a write goes: an output (``kind="out"``, named ``root``), an index of
    ``parent``, or a C-order reshape of ``parent``."""

    kind: str
    parent: Dest | None = None
    index: Index = ()
    shape: tuple[int, ...] = ()
    root: str = ""


@dataclass(frozen=True)
class Write:
    """``dest = node`` (``mode="set"``), ``dest += node`` ("add") or ``dest = 0`` ("zero")."""

    dest: Dest
    node: Node | None
    mode: str = "set"


@dataclass(frozen=True)
class Program:
    """One generated function (see the module docstring)."""

    name: str
    args: tuple[str, ...]
    #: The output arrays: (name, shape) each.
    outs: tuple[tuple[str, tuple[int, ...]], ...]
    statements: tuple[Node, ...]
    writes: tuple[Write, ...]
    inline: frozenset[int]
    reads: frozenset[str]
    names: dict[int, str] = field(default_factory=dict)
    graph: Graph | None = None

    @property
    def out(self) -> str:
        """The name of the (first) output."""
        return self.outs[0][0]

    @property
    def shape(self) -> tuple[int, ...]:
        return self.outs[0][1]

    def out_shape(self, root: str) -> tuple[int, ...]:
        return dict(self.outs)[root]


class _Scheduler:
    def __init__(self, results: list[Node]) -> None:
        self.nodes = needed(*results)
        self.uses: dict[int, int] = {}
        self.users: dict[int, Node] = {}
        for node in self.nodes:
            for a in node.args:
                self.uses[a.index] = self.uses.get(a.index, 0) + 1
                self.users[a.index] = node
        for result in results:
            self.uses[result.index] = self.uses.get(result.index, 0) + 1
        self.placed: set[int] = set()
        self.written: set[int] = set()  # nodes printed as the right-hand side of a write
        self.writes: list[Write] = []

    def once(self, node: Node) -> bool:
        return self.uses.get(node.index, 0) == 1

    def movable(self, node: Node) -> bool:
        return self.once(node) and node.op not in LEAVES

    def plan(self, dest: Dest, dummy: np.ndarray, node: Node) -> None:
        """Writes that put ``node`` into ``dest`` (``dummy`` is an array shaped like it)."""
        self.placed.add(node.index)
        op = node.op
        if op == "concat":
            (axis,) = node.attrs
            start = 0
            for part in node.args:
                stop = start + part.shape[axis]
                index = tuple(
                    ("s", start, stop, 1) if i == axis else ("s", 0, n, 1)
                    for i, n in enumerate(node.shape)
                )
                self._part(Dest("index", dest, index), dummy[as_slices(index)], part)
                start = stop
        elif op == "assemble":
            (indices,) = node.attrs
            count = np.zeros(node.shape, dtype=np.int32)
            for index in indices:
                count[as_slices(index)] += 1
            disjoint = bool(count.max(initial=0) <= 1)
            if count.min(initial=1) < 1:
                self.writes.append(Write(dest, None, "zero"))
            for index, part in zip(indices, node.args, strict=True):
                sub = Dest("index", dest, index)
                if disjoint:
                    self._part(sub, dummy[as_slices(index)], part)
                else:
                    self._write(sub, part, "add")
        elif op == "setitem":
            base, value = node.args
            (index,) = node.attrs
            if _overwritten(node, self.movable):
                # Every element is assigned by this chain: the constant it starts from is
                # never written (du = np.zeros_like(u); du[:3] = v; du[3:] = a).
                chain = [node]
                while chain[-1].args[0].op == "setitem":
                    chain.append(chain[-1].args[0])
                self.placed.update(n.index for n in chain)
                self.placed.add(chain[-1].args[0].index)
                for link in reversed(chain):
                    self._write(Dest("index", dest, link.attrs[0]), link.args[1], "set")
                return
            self._part(dest, dummy, base)
            self._write(Dest("index", dest, index), value, "set")
        elif op == "reshape" and self.movable(node.args[0]) and dummy.flags.c_contiguous:
            arg = node.args[0]
            if arg.shape == ():
                self._write(dest, node, "set")
            else:
                self._part(Dest("reshape", dest, shape=arg.shape), dummy.reshape(arg.shape), arg)
        elif op == "full" and node.attrs[0] == 0.0:
            self.writes.append(Write(dest, None, "zero"))
        else:
            self._write(dest, node, "set")

    def _part(self, dest: Dest, dummy: np.ndarray, node: Node) -> None:
        if self.movable(node):
            self.plan(dest, dummy, node)
        else:
            self._write(dest, node, "set")

    def _write(self, dest: Dest, node: Node, mode: str) -> None:
        self.placed.add(node.index)
        self.written.add(node.index)
        self.writes.append(Write(dest, node, mode))

    def inline(self) -> set[int]:
        """Nodes printed inside their users or their writes (the others are statements)."""
        out: set[int] = set()
        for node in self.nodes:
            i = node.index
            if node.op in LEAVES:
                out.add(i)
            elif not self.once(node):
                continue
            elif i in self.written:
                out.add(i)  # printed by its write: an expression, or mul!/sum! into dest
            elif i in self.placed:
                continue  # split into writes: neither inline nor a statement
            elif _fits(node, self.users[i], self.written):
                out.add(i)
        return out


def _overwritten(node: Node, movable: Any) -> bool:
    """Whether ``node`` (a setitem) assigns every element of a constant it starts from
    (``du = np.zeros_like(u); du[:3] = v; du[3:] = a``)."""
    covered = np.zeros(node.shape, dtype=bool)
    while node.op == "setitem":
        covered[as_slices(node.attrs[0])] = True
        base = node.args[0]
        if base.op == "setitem" and not movable(base):
            return False
        node = base
    return node.op == "full" and movable(node) and bool(covered.all())


def _fits(node: Node, user: Node, written: set[int]) -> bool:
    """Whether ``node`` (used once, by ``user``) is printed inside ``user``."""
    fused = is_elementwise(user) or user.op == "pack"
    if user.op in ("broadcast_to", "full"):
        fused = False
    if is_elementwise(node) or node.op in ("full", "broadcast_to"):
        return fused
    # Slices, reshapes and transposes are views: cheap anywhere.
    return node.op in ("getitem", "reshape", "transpose")


def schedule(
    name: str,
    args: tuple[str, ...],
    outs: list[tuple[str, tuple[int, ...], Node | None]],
) -> Program:
    """The ``Program`` that computes each result (None: all zeros) into its output."""
    results = [r for _, _, r in outs if r is not None]
    s = _Scheduler(results)
    for out, shape, result in outs:
        dest = Dest("out", root=out)
        if result is None:
            s.writes.append(Write(dest, None, "zero"))
        elif s.uses[result.index] > 1:  # also an intermediate, or another output
            s.written.add(result.index)
            s.writes.append(Write(dest, result, "set"))
        else:
            s.plan(dest, np.empty(shape), result)
    inline = s.inline()
    split = s.placed - s.written
    statements = tuple(n for n in s.nodes if n.index not in inline and n.index not in split)
    reads = frozenset(n.attrs[0] for n in s.nodes if n.op == "input")
    names = {n.index: f"x{k + 1}" for k, n in enumerate(statements)}
    shapes = tuple((out, shape) for out, shape, _ in outs)
    return Program(name, args, shapes, statements, tuple(s.writes), frozenset(inline), reads, names)


def build_programs(trace: ArrayTrace) -> dict[str, Program]:
    """``f``, ``vjp`` (state adjoint), ``vjp_p`` (parameter adjoint) and ``jvp`` of a trace."""
    g = trace.graph
    n, m = trace.u.shape[0], trace.p.shape[0]
    v = g.input("v", (n,))
    w = g.input("w", (n,))
    adjoint_u = reverse(g, trace.out, v, U).get("u")
    adjoint_p = reverse(g, trace.out, v, P).get("p") if m else None
    both = reverse(g, trace.out, v, U | P)
    tangent = forward(g, trace.out, {"u": w})
    seeded = ("v", "u", "p", "t")
    programs = [
        schedule("f", ("u", "p", "t"), [("du", (n,), trace.out)]),
        schedule("vjp", seeded, [("out", (n,), adjoint_u)]),
        schedule("vjp_p", seeded, [("out", (m,), adjoint_p)]),
        schedule("jvp", ("w", "u", "p", "t"), [("out", (n,), tangent)]),
        # Both adjoints in one sweep: the reference backend's adjoint asks for both at
        # every step (NumPy only; Julia calls vjp! and vjp_p! separately).
        schedule(
            "vjp_up", seeded, [("out_u", (n,), both.get("u")), ("out_p", (m,), both.get("p"))]
        ),
    ]
    return {p.name: _with_graph(p, g) for p in programs}


def _with_graph(program: Program, g: Graph) -> Program:
    object.__setattr__(program, "graph", g)
    return program


def describe(program: Program) -> list[Any]:
    """The statement nodes and writes, for tests and debugging."""
    return [*program.statements, *program.writes]


__all__ = ["Dest", "Program", "Write", "build_programs", "is_elementwise", "schedule"]
