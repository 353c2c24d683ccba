"""The array program: whole-array operations on named values, in one graph that shares nodes.

A ``Node`` is one operation with a static shape: an input (``u``, ``p``, ``t``, and for
derivative programs the seed ``v``/``w``), a constant, an elementwise operation of the
operation table (``ops.py``) with NumPy broadcasting, a matrix product, a sum over axes, a
slice, a reshape, a concatenation... The ``Graph`` records nodes in creation order, which is
a topological order, and returns the existing node for an operation it has seen
(hash-consing), so common subexpressions are shared from the start. Derivative programs are
built in the same graph (``rules.py``) and refer to the primal nodes they need.

Every node carries the set of inputs it depends on (bits ``U``, ``P``, ``T``, ``V``, ``W``),
which tells the reverse sweep where adjoints can flow and the printers which inputs a
program reads.

Indices are normalised (``norm_index``) to tuples of ``("i", k)`` (an integer),
``("s", start, stop, step)`` (a slice, as ``slice.indices`` resolves it) and ``("n",)``
(``np.newaxis``), one entry per indexed axis, so they are hashable and printable for both
array orders.

Example
-------
>>> g = Graph()
>>> u = g.input("u", (2,))
>>> y = g.ew("tanh", u)
>>> g.ew("tanh", u) is y, y.shape, bool(y.deps & U)
(True, (2,), True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

#: Dependency bits: which inputs a node's value depends on.
U, P, T, V, W = 1, 2, 4, 8, 16
INPUT_BITS = {"u": U, "p": P, "t": T, "v": V, "w": W}

#: Operations that only look at their argument's elements in another arrangement.
VIEW_OPS = frozenset({"getitem", "reshape", "transpose", "broadcast_to"})
#: Elementwise operations whose result is boolean.
BOOLEAN_OPS = frozenset(
    {
        "greater",
        "greater_equal",
        "less",
        "less_equal",
        "equal",
        "not_equal",
        "logical_and",
        "logical_or",
        "logical_not",
    }
)

Shape = tuple[int, ...]
Index = tuple[tuple[Any, ...], ...]


class Unsupported(Exception):
    """The array tracer cannot keep this program whole (the scalar tracer takes over)."""


class Node:
    """One whole-array operation (see the module docstring)."""

    __slots__ = ("args", "attrs", "deps", "index", "kind", "op", "shape")

    def __init__(
        self,
        op: str,
        args: tuple[Node, ...],
        shape: Shape,
        attrs: tuple[Any, ...],
        kind: str,
        deps: int,
        index: int,
    ) -> None:
        self.op = op
        self.args = args
        self.shape = shape
        self.attrs = attrs
        self.kind = kind  # "f" (float) or "b" (bool)
        self.deps = deps
        self.index = index

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        args = ", ".join(f"%{a.index}" for a in self.args)
        attrs = f" {self.attrs}" if self.attrs else ""
        return f"%{self.index} = {self.op}({args}){attrs} : {self.shape}"


class Graph:
    """Nodes in creation (topological) order; equal operations give the same node."""

    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self.constants: list[np.ndarray] = []
        self._memo: dict[tuple[Any, ...], Node] = {}
        self._constant_memo: dict[tuple[Any, ...], Node] = {}
        #: Switches on u or p the tracer saw (``tape.Switch`` records, see values.py).
        self.switches: list[Any] = []

    # -- creation ------------------------------------------------------------------------
    def node(
        self,
        op: str,
        args: Sequence[Node],
        shape: Shape,
        attrs: tuple[Any, ...] = (),
        kind: str = "f",
        deps: int | None = None,
    ) -> Node:
        args = tuple(args)
        key = (op, tuple(a.index for a in args), attrs)
        found = self._memo.get(key)
        if found is not None:
            return found
        if deps is None:
            deps = 0
            for a in args:
                deps |= a.deps
        made = Node(op, args, tuple(shape), attrs, kind, deps, len(self.nodes))
        self.nodes.append(made)
        self._memo[key] = made
        return made

    def input(self, name: str, shape: Shape) -> Node:
        return self.node("input", (), shape, (name,), deps=INPUT_BITS[name])

    def scalar(self, value: float | bool) -> Node:
        if isinstance(value, (bool, np.bool_)):
            return self.node("scalar", (), (), (bool(value),), kind="b")
        value = float(value)
        if not math.isfinite(value):
            raise Unsupported(f"the constant {value!r} is not finite")
        return self.node("scalar", (), (), (value,))

    def constant(self, value: np.ndarray) -> Node:
        """An array the function captured (a closure, a global): data of the program."""
        arr = np.asarray(value)
        if arr.ndim == 0:
            return self.scalar(arr.item())
        kind = "b" if arr.dtype == np.bool_ else "f"
        if kind == "f":
            if arr.dtype.kind not in "iuf":
                raise Unsupported(f"arrays of dtype {arr.dtype} cannot be traced")
            arr = np.ascontiguousarray(arr, dtype=np.float64)
            if not np.all(np.isfinite(arr)):
                raise Unsupported("a captured array holds NaN or infinite values")
        key = (arr.shape, kind, arr.tobytes())
        found = self._constant_memo.get(key)
        if found is None:
            arr = arr.copy()
            arr.flags.writeable = False  # the program holds it; nobody may change it
            self.constants.append(arr)
            found = self.node("const", (), arr.shape, (len(self.constants) - 1,), kind=kind)
            self._constant_memo[key] = found
        return found

    def full(self, shape: Shape, value: float) -> Node:
        """An array of one value (``np.zeros_like`` and friends)."""
        return self.node("full", (), shape, (float(value),))

    # -- elementwise ------------------------------------------------------------------------
    def ew(self, op: str, *args: Node) -> Node:
        """An elementwise operation of the operation table, with NumPy broadcasting."""
        shape = broadcast_shapes(*(a.shape for a in args))
        if op in BOOLEAN_OPS:
            kind = "b"
        elif op == "where":
            kind = "b" if args[1].kind == args[2].kind == "b" else "f"
        else:
            kind = "f"
        folded = self._fold(op, args)
        if folded is not None:
            return folded
        return self.node(op, args, shape, kind=kind)

    def _fold(self, op: str, args: tuple[Node, ...]) -> Node | None:
        """Arithmetic with scalar constants that derivative rules produce (x*1, x+0, -(-x))."""
        if op == "multiply":
            a, b = args
            for x, y in ((a, b), (b, a)):
                if _is_value(x, 1.0) and y.shape == broadcast_shapes(a.shape, b.shape):
                    return y
                if _is_value(x, -1.0) and y.shape == broadcast_shapes(a.shape, b.shape):
                    return self.ew("negative", y)
        elif op in ("add", "subtract"):
            a, b = args
            if _is_value(b, 0.0) and a.shape == broadcast_shapes(a.shape, b.shape):
                return a
            if op == "add" and _is_value(a, 0.0) and b.shape == broadcast_shapes(a.shape, b.shape):
                return b
            if op == "subtract" and _is_value(a, 0.0):
                return self.ew("negative", b)  # a scalar 0 never changes the shape
        if op == "add" and args[1].op == "negative":  # a + (-b) -> a - b
            return self.ew("subtract", args[0], args[1].args[0])
        if op == "add" and args[0].op == "negative":  # (-a) + b -> b - a
            return self.ew("subtract", args[1], args[0].args[0])
        if op == "subtract" and args[1].op == "negative":  # a - (-b) -> a + b
            return self.ew("add", args[0], args[1].args[0])
        if op == "negative" and args[0].op == "negative":
            return args[0].args[0]
        elif op == "negative" and args[0].op == "scalar":
            return self.scalar(-args[0].attrs[0])
        if all(a.op == "scalar" and a.kind == "f" for a in args) and op in _SCALAR_FOLD:
            return self.scalar(_SCALAR_FOLD[op](*(a.attrs[0] for a in args)))
        return None

    # -- structure ----------------------------------------------------------------------------
    def matmul(self, a: Node, b: Node) -> Node:
        """``a @ b`` for 1-d and 2-d operands (NumPy's rules; 1-d @ 1-d is a scalar)."""
        if a.ndim not in (1, 2) or b.ndim not in (1, 2):
            raise Unsupported(f"matrix product of shapes {a.shape} and {b.shape}")
        k_a = a.shape[-1]
        k_b = b.shape[0]
        if k_a != k_b:
            raise Unsupported(f"matrix product of shapes {a.shape} and {b.shape}: sizes differ")
        shape = a.shape[:-1] + b.shape[1:]
        return self.node("matmul", (a, b), shape)

    def outer(self, a: Node, b: Node) -> Node:
        """``np.outer`` of two 1-d arrays."""
        return self.node("outer", (a, b), (a.shape[0], b.shape[0]))

    def sum(self, a: Node, axes: tuple[int, ...] | None = None) -> Node:
        """Sum over ``axes`` (all when None), without keeping the summed axes."""
        if axes is None:
            axes = tuple(range(a.ndim))
        axes = tuple(sorted({ax % a.ndim for ax in axes})) if a.ndim else ()
        if not axes:
            return a
        shape = tuple(s for i, s in enumerate(a.shape) if i not in axes)
        return self.node("sum", (a,), shape, (axes,))

    def reshape(self, a: Node, shape: Shape) -> Node:
        shape = tuple(int(s) for s in shape)
        if shape == a.shape:
            return a
        if math.prod(shape) != a.size:
            raise Unsupported(f"cannot reshape an array of shape {a.shape} into {shape}")
        if a.op == "reshape":  # reshape of a reshape is one reshape (C order both times)
            a = a.args[0]
            if shape == a.shape:
                return a
        return self.node("reshape", (a,), shape, (shape,), kind=a.kind)

    def transpose(self, a: Node, perm: tuple[int, ...] | None = None) -> Node:
        perm = tuple(reversed(range(a.ndim))) if perm is None else tuple(p % a.ndim for p in perm)
        if sorted(perm) != list(range(a.ndim)):
            raise Unsupported(f"axes {perm} are not a permutation for shape {a.shape}")
        if perm == tuple(range(a.ndim)):
            return a
        if a.op == "transpose":
            inner = a.attrs[0]
            return self.transpose(a.args[0], tuple(inner[i] for i in perm))
        shape = tuple(a.shape[i] for i in perm)
        return self.node("transpose", (a,), shape, (perm,), kind=a.kind)

    def broadcast_to(self, a: Node, shape: Shape) -> Node:
        shape = tuple(shape)
        if a.shape == shape:
            return a
        if broadcast_shapes(a.shape, shape) != shape:
            raise Unsupported(f"cannot broadcast shape {a.shape} to {shape}")
        return self.node("broadcast_to", (a,), shape, (shape,), kind=a.kind)

    def getitem(self, a: Node, index: Index) -> Node:
        if all(e[0] == "s" and e[1:] == (0, n, 1) for e, n in zip(index, a.shape, strict=False)):
            if len(index) == a.ndim:
                return a
        shape = index_shape(index)
        if a.op == "setitem" and not any(e[0] == "n" for e in index):
            # Reading back around an assignment (the adjoint of du[:3] = x; du[3:] = y).
            base, value = a.args
            written = np.zeros(a.shape, dtype=bool)
            written[as_slices(a.attrs[0])] = True
            read = written[as_slices(index)]
            if not read.any():
                return self.getitem(base, index)
            if read.all() and index == a.attrs[0]:
                return self.broadcast_to(value, shape)
        return self.node("getitem", (a,), shape, (index,), kind=a.kind)

    def concat(self, parts: Sequence[Node], axis: int) -> Node:
        parts = tuple(parts)
        if len(parts) == 1:
            return parts[0]
        first = parts[0].shape
        if not first:
            raise Unsupported("zero-dimensional arrays cannot be concatenated")
        axis %= len(first)
        for p in parts:
            if p.ndim != len(first) or any(
                s != f for i, (s, f) in enumerate(zip(p.shape, first, strict=True)) if i != axis
            ):
                raise Unsupported(f"cannot concatenate shapes {[q.shape for q in parts]}")
        shape = list(first)
        shape[axis] = sum(p.shape[axis] for p in parts)
        kind = "b" if all(p.kind == "b" for p in parts) else "f"
        return self.node("concat", parts, tuple(shape), (axis,), kind=kind)

    def pack(self, parts: Sequence[Node]) -> Node:
        """A 1-d array of scalars (``np.array([x, y])``, a returned list of numbers)."""
        parts = tuple(parts)
        if any(p.shape != () for p in parts):
            raise Unsupported("pack expects scalars")
        return self.node("pack", parts, (len(parts),))

    def setitem(self, base: Node, index: Index, value: Node) -> Node:
        """``base`` with ``base[index] = value`` (a new value: the tracer handles aliasing)."""
        target = index_shape(index)
        if broadcast_shapes(value.shape, target) != target:
            raise Unsupported(f"cannot assign shape {value.shape} to a slice of shape {target}")
        if any(e[0] == "n" for e in index):
            raise Unsupported("np.newaxis in the index of an assignment")
        return self.node("setitem", (base, value), base.shape, (index,))

    def assemble(self, shape: Shape, pieces: Sequence[tuple[Index, Node]]) -> Node:
        """Zeros of ``shape`` plus each piece added at its index (the adjoint of slicing)."""
        indices = tuple(i for i, _ in pieces)
        return self.node("assemble", tuple(v for _, v in pieces), shape, (indices,))


_SCALAR_FOLD: dict[str, Any] = {
    "add": lambda a, b: a + b,
    "subtract": lambda a, b: a - b,
    "multiply": lambda a, b: a * b,
    "negative": lambda a: -a,
}


def _is_value(node: Node, value: float) -> bool:
    return node.op == "scalar" and node.kind == "f" and node.attrs[0] == value


def broadcast_shapes(*shapes: Shape) -> Shape:
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError as exc:
        raise Unsupported(f"shapes {list(shapes)} do not broadcast") from exc


# -- indices --------------------------------------------------------------------------------
def norm_index(index: Any, shape: Shape) -> Index:
    """A basic NumPy index as a tuple of entries, one per indexed axis (module docstring).

    Example
    -------
    >>> norm_index((slice(None, 2), -1), (4, 3))
    (('s', 0, 2, 1), ('i', 2))
    >>> norm_index(np.newaxis, (2,))
    (('n',), ('s', 0, 2, 1))
    """
    items = index if isinstance(index, tuple) else (index,)
    n_axes = sum(1 for i in items if i is not None and i is not Ellipsis)
    if n_axes > len(shape):
        raise Unsupported(f"too many indices for an array of shape {shape}")
    if sum(1 for i in items if i is Ellipsis) > 1:
        raise Unsupported("an index can only have a single ellipsis")
    out: list[tuple[Any, ...]] = []
    axis = 0
    for item in items:
        if item is None:
            out.append(("n",))
        elif item is Ellipsis:
            for _ in range(len(shape) - n_axes):
                out.append(("s", 0, shape[axis], 1))
                axis += 1
        elif isinstance(item, slice):
            start, stop, step = item.indices(shape[axis])
            out.append(("s", start, stop, step))
            axis += 1
        elif isinstance(item, (int, np.integer)) and not isinstance(item, (bool, np.bool_)):
            k = int(item)
            if not -shape[axis] <= k < shape[axis]:
                raise Unsupported(f"index {k} is out of bounds for size {shape[axis]}")
            out.append(("i", k % shape[axis]))
            axis += 1
        else:
            raise Unsupported(f"indexing with {type(item).__name__} (only ints and slices)")
    while axis < len(shape):
        out.append(("s", 0, shape[axis], 1))
        axis += 1
    return tuple(out)


def slice_length(entry: tuple[Any, ...]) -> int:
    return len(range(entry[1], entry[2], entry[3]))


def index_shape(index: Index) -> Shape:
    """The shape ``a[index]`` has."""
    shape: list[int] = []
    for e in index:
        if e[0] == "s":
            shape.append(slice_length(e))
        elif e[0] == "n":
            shape.append(1)
    return tuple(shape)


def without_newaxes(index: Index) -> Index:
    return tuple(e for e in index if e[0] != "n")


def as_slices(index: Index) -> tuple[Any, ...]:
    """The index as a NumPy index (ints, slices, None), e.g. to build coverage masks."""
    out: list[Any] = []
    for e in index:
        if e[0] == "i":
            out.append(e[1])
        elif e[0] == "n":
            out.append(None)
        else:
            start, stop, step = e[1:]
            if step < 0 and stop < 0:
                stop = None
            out.append(slice(start, stop, step))
    return tuple(out)


__all__ = [
    "BOOLEAN_OPS",
    "INPUT_BITS",
    "VIEW_OPS",
    "Graph",
    "Node",
    "P",
    "T",
    "U",
    "Unsupported",
    "V",
    "W",
    "as_slices",
    "broadcast_shapes",
    "index_shape",
    "norm_index",
    "without_newaxes",
]
