"""``ArrayValue``: the array a function receives when bridge traces it at the array level.

It holds one node of the array program (``graph.py``) and implements NumPy's protocols
(``__array_ufunc__``, ``__array_function__``) and the ndarray methods and operators that
array code uses, each recording one whole-array operation. Anything outside that set
(``float(x)``, ``if x > 0``, ``math.exp``, a NumPy function without an array rule, fancy
indexing, writing into a view) raises ``Unsupported``: the function is then traced by the
scalar tracer (``bridge._trace.tracer``), which handles everything else and reports what
cannot be traced at all.

Writes (``a[i] = x``, ``a += x``) replace the value's node with a new one. That is NumPy's
meaning only while no other array shares the memory, so writing into an input, a view, or an
array that a view was taken from is refused (``shared``).

Example
-------
>>> from bridge._trace.array.graph import Graph
>>> g = Graph()
>>> u = ArrayValue(g.input("u", (3,)), g, shared=True)
>>> (np.tanh(u[:2]) * 2.0).node
%4 = multiply(%2, %3) : (2,)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

from ..ops import OPS, UFUNCS
from ..tape import Switch, user_location
from .graph import Graph, Node, P, U, Unsupported, norm_index


class ArrayValue(NDArrayOperatorsMixin):
    """A traced whole array (see the module docstring)."""

    # Beat ndarray in mixed binary operations, so ``W @ u`` and ``2.0 * u`` come to us.
    __array_priority__ = 1000
    __slots__ = ("graph", "node", "shared")

    def __init__(self, node: Node, graph: Graph, shared: bool = False) -> None:
        self.node = node
        self.graph = graph
        #: True for inputs, views, and arrays a view was taken from (writes are refused).
        self.shared = shared

    def _new(self, node: Node, view: bool = False) -> ArrayValue:
        if view:
            self.shared = True
        return ArrayValue(node, self.graph, shared=view)

    # -- attributes ---------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.node.shape

    @property
    def ndim(self) -> int:
        return self.node.ndim

    @property
    def size(self) -> int:
        return self.node.size

    @property
    def dtype(self) -> np.dtype[Any]:
        return np.dtype(np.bool_) if self.node.kind == "b" else np.dtype(np.float64)

    @property
    def T(self) -> ArrayValue:
        return self._new(self.graph.transpose(self.node), view=True)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __iter__(self) -> Iterator[ArrayValue]:
        if not self.shape:
            raise TypeError("iteration over a 0-d array")
        for i in range(self.shape[0]):
            yield self[i]

    def __repr__(self) -> str:
        return f"ArrayValue({self.node!r})"

    # -- indexing -----------------------------------------------------------------------
    def __getitem__(self, index: Any) -> ArrayValue:
        return self._new(self.graph.getitem(self.node, _index(index, self.shape)), view=True)

    def __setitem__(self, index: Any, value: Any) -> None:
        self._write(self.graph.setitem(self.node, _index(index, self.shape), self._arg(value)))

    def _write(self, node: Node) -> None:
        if self.shared:
            raise Unsupported("writing into an input, a view, or an array with views")
        if node.shape != self.shape:
            raise Unsupported(f"an in-place result of shape {node.shape} into {self.shape}")
        self.node = node

    def _arg(self, value: Any) -> Node:
        return as_node(self.graph, value)

    # -- conversions that need a number ------------------------------------------------
    def __bool__(self) -> bool:
        raise Unsupported("a branch on a traced value")

    def __float__(self) -> float:
        raise Unsupported("float() of a traced value")

    def __int__(self) -> int:
        raise Unsupported("int() of a traced value")

    def __index__(self) -> int:
        raise Unsupported("a traced value used as an index")

    def __complex__(self) -> complex:
        raise Unsupported("complex() of a traced value")

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        # np.array([x, y]) of traced scalars: an object array of them, which NumPy's object
        # loops and ``as_node`` understand (a float array would need numbers).
        if dtype is not None and np.dtype(dtype) != np.dtype(object):
            raise Unsupported(f"conversion of a traced value to a {np.dtype(dtype)} array")
        out = np.empty(self.shape, dtype=object)
        for idx in np.ndindex(*self.shape):
            out[idx] = self[idx] if self.shape else self
        return out

    # -- NumPy protocols ------------------------------------------------------------------
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        return apply_ufunc(self.graph, ufunc, method, inputs, kwargs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        module = getattr(func, "__module__", "") or ""
        rule = _FUNCTIONS.get(func.__name__)
        if rule is None or not module.startswith("numpy") or "linalg" in module:
            raise Unsupported(f"{module}.{func.__name__} has no array rule")
        return rule(self.graph, *args, **kwargs)

    # Operators (+, @, <, & ...) come from NDArrayOperatorsMixin: each calls its ufunc, which
    # reaches __array_ufunc__ above. ``&``, ``|`` and ``~`` are NumPy's bitwise_and/or and
    # invert, traced as logical and/or/not (ops.py).
    __hash__ = None  # type: ignore[assignment]

    def _inplace(self, ufunc: np.ufunc, o: Any) -> ArrayValue:
        result = ufunc(self, o)
        self._write(result.node)
        return self

    def __iadd__(self, o: Any) -> ArrayValue:
        return self._inplace(np.add, o)

    def __isub__(self, o: Any) -> ArrayValue:
        return self._inplace(np.subtract, o)

    def __imul__(self, o: Any) -> ArrayValue:
        return self._inplace(np.multiply, o)

    def __itruediv__(self, o: Any) -> ArrayValue:
        return self._inplace(np.true_divide, o)

    # -- ndarray methods ----------------------------------------------------------------------
    def reshape(self, *shape: Any, order: str = "C") -> ArrayValue:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _reshape(self.graph, self, shape, order=order)

    def ravel(self, order: str = "C") -> ArrayValue:
        return _reshape(self.graph, self, (-1,), order=order)

    def flatten(self, order: str = "C") -> ArrayValue:
        return self.ravel(order).copy()

    def copy(self, order: str = "C") -> ArrayValue:
        return ArrayValue(self.node, self.graph)

    def astype(self, dtype: Any = None, **kwargs: Any) -> ArrayValue:
        if dtype is not None and np.dtype(dtype).kind != "f":
            raise Unsupported(f"astype({dtype!r})")
        return self.copy()

    def transpose(self, *axes: Any) -> ArrayValue:
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return _transpose(self.graph, self, axes or None)

    def squeeze(self, axis: Any = None) -> ArrayValue:
        return _squeeze(self.graph, self, axis)

    def sum(self, axis: Any = None, **kwargs: Any) -> ArrayValue:
        return _sum(self.graph, self, axis, **kwargs)

    def mean(self, axis: Any = None, **kwargs: Any) -> ArrayValue:
        return _mean(self.graph, self, axis, **kwargs)

    def dot(self, other: Any) -> ArrayValue:
        return _dot(self.graph, self, other)

    def clip(self, lo: Any = None, hi: Any = None, **kwargs: Any) -> Any:
        return _clip(self.graph, self, lo, hi, **kwargs)


def _index(index: Any, shape: tuple[int, ...]) -> Any:
    items = index if isinstance(index, tuple) else (index,)
    for item in items:
        if isinstance(item, (ArrayValue, list, np.ndarray)):
            raise Unsupported("indexing with an array (only ints and slices)")
    return norm_index(index, shape)


def _ufunc_method(name: str) -> Callable[[ArrayValue], Any]:
    def method(self: ArrayValue) -> Any:
        return getattr(np, name)(self)

    method.__name__ = name
    return method


# NumPy's object-dtype loops call ``element.<ufunc name>()``: with these, np.tanh works on an
# object array of traced scalars such as ``np.array([x, y])``.
for _name, _op in UFUNCS.items():
    if _op.arity == 1 and hasattr(np, _name) and not hasattr(ArrayValue, _name):
        setattr(ArrayValue, _name, _ufunc_method(_name))


# -- conversion of arguments --------------------------------------------------------------------
def _has_traced(value: Any) -> bool:
    if isinstance(value, ArrayValue):
        return True
    if isinstance(value, (list, tuple)):
        return any(_has_traced(v) for v in value)
    if isinstance(value, np.ndarray) and value.dtype == object:
        return any(_has_traced(v) for v in value.flat)
    return False


def as_node(g: Graph, value: Any) -> Node:
    """Any argument of a traced operation (traced value, number, array, list) as a node."""
    if isinstance(value, ArrayValue):
        if value.graph is not g:
            raise Unsupported("a value traced in another call")
        return value.node
    if isinstance(value, (bool, np.bool_, int, float, np.integer, np.floating)):
        return g.scalar(value)  # type: ignore[arg-type]
    if isinstance(value, (list, tuple, np.ndarray)):
        if not _has_traced(value):
            try:
                arr = np.asarray(value)
            except ValueError as exc:
                raise Unsupported(f"a ragged array: {exc}") from exc
            if arr.dtype.kind not in "biuf":
                raise Unsupported(f"an array of dtype {arr.dtype}")
            return g.constant(arr)
        if isinstance(value, np.ndarray):
            flat = [as_node(g, v) for v in value.ravel()]
            return g.reshape(g.pack(flat), value.shape)
        parts = [as_node(g, v) for v in value]
        if not parts:
            raise Unsupported("an empty list")
        if len({p.shape for p in parts}) != 1:
            raise Unsupported("a ragged list of arrays")
        if parts[0].shape == ():
            return g.pack(parts)
        return g.concat([g.reshape(p, (1, *p.shape)) for p in parts], axis=0)
    raise Unsupported(f"a {type(value).__name__} in a traced operation")


def _value(g: Graph, node: Node) -> ArrayValue:
    return ArrayValue(node, g)


def _bool(g: Graph, node: Node) -> Node:
    return node if node.kind == "b" else g.ew("not_equal", node, g.scalar(0.0))


# -- ufuncs -----------------------------------------------------------------------------------
_LN10, _LN2 = math.log(10.0), math.log(2.0)


def elementwise(g: Graph, name: str, args: list[Node]) -> Node:
    """The table operation ``name`` on nodes, rewriting the rows that have no spelling."""
    if name == "positive":
        return args[0]
    if name == "square":
        return g.ew("power", args[0], g.scalar(2.0))
    if name == "reciprocal":
        return g.ew("divide", g.scalar(1.0), args[0])
    if name in ("log10", "log2"):
        scale = 1.0 / (_LN10 if name == "log10" else _LN2)
        return g.ew("multiply", g.ew("log", args[0]), g.scalar(scale))
    if name == "exp2":
        return g.ew("power", g.scalar(2.0), args[0])
    if name == "cbrt":
        magnitude = g.ew("power", g.ew("absolute", args[0]), g.scalar(1.0 / 3.0))
        return g.ew("multiply", g.ew("sign", args[0]), magnitude)
    if name == "expit":
        one = g.scalar(1.0)
        return g.ew("divide", one, g.ew("add", one, g.ew("exp", g.ew("negative", args[0]))))
    if name == "hypot":
        a, b = args
        return g.ew("sqrt", g.ew("add", g.ew("multiply", a, a), g.ew("multiply", b, b)))
    if name in ("logical_and", "logical_or"):
        return g.ew(name, _bool(g, args[0]), _bool(g, args[1]))
    if name == "logical_not":
        return g.ew("logical_not", _bool(g, args[0]))
    if name == "where":
        return g.ew("where", _bool(g, args[0]), args[1], args[2])
    if any(a.kind == "b" for a in args) and name not in ("multiply", "equal", "not_equal"):
        args = [
            g.ew("where", a, g.scalar(1.0), g.scalar(0.0)) if a.kind == "b" else a for a in args
        ]
    return g.ew(name, *args)


def _note_switch(g: Graph, name: str, args: list[Node]) -> None:
    """Record a switch on u or p at the user's line (``bridge._trace.switches``)."""
    op = OPS.get(name)
    if op is None or op.switch is None:
        return
    deciding = args[:1] if name == "where" else args
    if not any(a.deps & (U | P) for a in deciding):
        return
    jumps = _where_may_jump(*args) if name == "where" else op.switch == "jump"
    g.switches.append(Switch(f"np.{name}", user_location(), (), jumps))


def _where_may_jump(cond: Node, a: Node, b: Node) -> bool:
    """False when ``where(cond, a, b)`` is plainly continuous: ``where(x > y, x, y)``,
    or a comparison of x with 0 choosing between multiples of x (ReLU, leaky ReLU)."""
    if a is b:
        return False
    if cond.op not in ("greater", "greater_equal", "less", "less_equal"):
        return True
    x, y = cond.args
    if {a.index, b.index} == {x.index, y.index}:
        return False
    if y.op != "scalar" or y.attrs[0] != 0.0:
        return True

    def multiple(branch: Node) -> bool:
        if branch is x or (branch.op == "scalar" and branch.attrs[0] == 0.0):
            return True
        if branch.op == "multiply":
            first, second = branch.args
            return (first is x and second.op == "scalar") or (second is x and first.op == "scalar")
        return False

    return not (multiple(a) and multiple(b))


def apply_ufunc(g: Graph, ufunc: np.ufunc, method: str, inputs: Any, kwargs: Any) -> Any:
    """``ufunc(*inputs)`` on traced values (``ArrayValue.__array_ufunc__``)."""
    name = ufunc.__name__
    if kwargs.get("out") is not None or kwargs.get("where", True) is not True:
        raise Unsupported(f"np.{name} with out= or where=")
    if method == "reduce" and name == "add":
        return _sum(g, inputs[0], kwargs.get("axis", 0), keepdims=kwargs.get("keepdims", False))
    if method != "__call__":
        raise Unsupported(f"np.{name}.{method}")
    nodes = [as_node(g, x) for x in inputs]
    if name == "matmul":
        return _value(g, g.matmul(*nodes))
    row = UFUNCS.get(name)
    if row is None:
        raise Unsupported(f"np.{name} has no array rule")
    _note_switch(g, row.name, nodes)
    return _value(g, elementwise(g, row.name, nodes))


# -- array functions ------------------------------------------------------------------------
def _axes(axis: Any, ndim: int) -> tuple[int, ...] | None:
    if axis is None:
        return None
    items = axis if isinstance(axis, tuple) else (axis,)
    if not all(isinstance(a, (int, np.integer)) for a in items):
        raise Unsupported(f"axis={axis!r}")
    if any(not -ndim <= int(a) < ndim for a in items):
        raise Unsupported(f"axis {axis!r} is out of bounds for {ndim} dimensions")
    return tuple(int(a) % ndim for a in items)


def _sum(
    g: Graph, a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False,
    **kw: Any,
) -> ArrayValue:  # fmt: skip
    if out is not None or kw.get("where", True) is not True or kw.get("initial") is not None:
        raise Unsupported("np.sum with out=, where= or initial=")
    x = as_node(g, a)
    axes = _axes(axis, x.ndim)
    result = g.sum(x, axes)
    if keepdims:
        kept = axes if axes is not None else tuple(range(x.ndim))
        result = g.reshape(result, tuple(1 if i in kept else s for i, s in enumerate(x.shape)))
    return _value(g, result)


def _mean(g: Graph, a: Any, axis: Any = None, **kw: Any) -> ArrayValue:
    x = as_node(g, a)
    axes = _axes(axis, x.ndim)
    count = x.size if axes is None else math.prod(x.shape[i] for i in axes)
    total = _sum(g, a, axis, **kw)
    return _value(g, g.ew("multiply", total.node, g.scalar(1.0 / count)))


def _dot(g: Graph, a: Any, b: Any, out: Any = None) -> ArrayValue:
    if out is not None:
        raise Unsupported("np.dot with out=")
    x, y = as_node(g, a), as_node(g, b)
    if x.ndim == 0 or y.ndim == 0:
        return _value(g, g.ew("multiply", x, y))
    return _value(g, g.matmul(x, y))


def _inner(g: Graph, a: Any, b: Any) -> ArrayValue:
    x, y = as_node(g, a), as_node(g, b)
    if x.ndim == 0 or y.ndim == 0:
        return _value(g, g.ew("multiply", x, y))
    if y.ndim == 1:
        return _value(g, g.matmul(x, y))
    raise Unsupported("np.inner of arrays of more than one dimension")


def _outer(g: Graph, a: Any, b: Any, out: Any = None) -> ArrayValue:
    if out is not None:
        raise Unsupported("np.outer with out=")
    x, y = as_node(g, a), as_node(g, b)
    return _value(g, g.outer(g.reshape(x, (x.size,)), g.reshape(y, (y.size,))))


def _reshape(g: Graph, a: Any, shape: Any, order: str = "C", **kw: Any) -> ArrayValue:
    if order != "C" or kw.get("copy") is not None:
        raise Unsupported(f"reshape with order={order!r}")
    x = as_node(g, a)
    dims = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    dims = tuple(int(d) for d in dims)
    if dims.count(-1) == 1:
        known = math.prod(d for d in dims if d != -1)
        if known == 0 or x.size % known:
            raise Unsupported(f"cannot reshape size {x.size} into {dims}")
        dims = tuple(x.size // known if d == -1 else d for d in dims)
    node = g.reshape(x, dims)
    if isinstance(a, ArrayValue):
        return a._new(node, view=True)
    return _value(g, node)


def _np_reshape(g: Graph, a: Any, *args: Any, **kwargs: Any) -> ArrayValue:
    shape = kwargs.pop("newshape", None) or kwargs.pop("shape", None)
    if shape is None and args:
        shape, args = args[0], args[1:]
    if args:
        kwargs["order"] = args[0]
    return _reshape(g, a, shape, **kwargs)


def _ravel(g: Graph, a: Any, order: str = "C") -> ArrayValue:
    return _reshape(g, a, (-1,), order=order)


def _transpose(g: Graph, a: Any, axes: Any = None) -> ArrayValue:
    node = g.transpose(as_node(g, a), None if axes is None else tuple(int(x) for x in axes))
    if isinstance(a, ArrayValue):
        return a._new(node, view=True)
    return _value(g, node)


def _swapaxes(g: Graph, a: Any, axis1: int, axis2: int) -> ArrayValue:
    x = as_node(g, a)
    perm = list(range(x.ndim))
    perm[axis1], perm[axis2] = perm[axis2], perm[axis1]
    return _transpose(g, a, perm)


def _squeeze(g: Graph, a: Any, axis: Any = None) -> ArrayValue:
    x = as_node(g, a)
    axes = _axes(axis, x.ndim)
    drop = [i for i, s in enumerate(x.shape) if s == 1 and (axes is None or i in axes)]
    if axes is not None and len(drop) != len(axes):
        raise Unsupported("squeeze of an axis whose length is not one")
    return _reshape(g, a, tuple(s for i, s in enumerate(x.shape) if i not in drop))


def _expand_dims(g: Graph, a: Any, axis: Any) -> ArrayValue:
    x = as_node(g, a)
    axes = _axes(axis, x.ndim + (len(axis) if isinstance(axis, tuple) else 1))
    assert axes is not None
    shape = list(x.shape)
    for ax in sorted(axes):
        shape.insert(ax, 1)
    return _reshape(g, a, tuple(shape))


def _atleast_1d(g: Graph, *arys: Any) -> Any:
    out = []
    for a in arys:
        x = as_node(g, a)
        out.append(_value(g, g.reshape(x, (1,)) if x.ndim == 0 else x))
    return out[0] if len(out) == 1 else out


def _parts(g: Graph, arrays: Any) -> list[Node]:
    if isinstance(arrays, ArrayValue):
        return [g.getitem(arrays.node, norm_index(i, arrays.shape)) for i in range(len(arrays))]
    if not isinstance(arrays, (list, tuple)) or not arrays:
        raise Unsupported("a sequence of arrays is expected")
    return [as_node(g, a) for a in arrays]


def _concatenate(g: Graph, arrays: Any, axis: Any = 0, out: Any = None, **kw: Any) -> ArrayValue:
    if out is not None or kw.get("dtype") is not None:
        raise Unsupported("np.concatenate with out= or dtype=")
    parts = _parts(g, arrays)
    if axis is None:
        parts = [g.reshape(p, (p.size,)) for p in parts]
        axis = 0
    if any(p.ndim == 0 for p in parts):
        raise Unsupported("zero-dimensional arrays cannot be concatenated")
    return _value(g, g.concat(parts, int(axis)))


def _stack(g: Graph, arrays: Any, axis: int = 0, out: Any = None, **kw: Any) -> ArrayValue:
    if out is not None or kw.get("dtype") is not None:
        raise Unsupported("np.stack with out= or dtype=")
    parts = _parts(g, arrays)
    if len({p.shape for p in parts}) != 1:
        raise Unsupported("np.stack of arrays of different shapes")
    shape = parts[0].shape
    axis = int(axis) % (len(shape) + 1)
    if not shape:
        return _value(g, g.pack(parts))
    expanded = (*shape[:axis], 1, *shape[axis:])
    return _value(g, g.concat([g.reshape(p, expanded) for p in parts], axis))


def _hstack(g: Graph, tup: Any, **kw: Any) -> ArrayValue:
    parts = [g.reshape(p, (1,)) if p.ndim == 0 else p for p in _parts(g, tup)]
    return _value(g, g.concat(parts, 0 if parts[0].ndim == 1 else 1))


def _vstack(g: Graph, tup: Any, **kw: Any) -> ArrayValue:
    parts = [g.reshape(p, (1, p.size)) if p.ndim < 2 else p for p in _parts(g, tup)]
    return _value(g, g.concat(parts, 0))


def _where(g: Graph, cond: Any, a: Any = None, b: Any = None) -> ArrayValue:
    if a is None or b is None:
        raise Unsupported("np.where(condition) without values")
    nodes = [as_node(g, v) for v in (cond, a, b)]
    _note_switch(g, "where", nodes)
    return _value(g, elementwise(g, "where", nodes))


def _clip(g: Graph, a: Any, a_min: Any = None, a_max: Any = None, out: Any = None, **kw: Any):
    a_min = kw.pop("min", a_min)
    a_max = kw.pop("max", a_max)
    if out is not None or kw:
        raise Unsupported("np.clip with out= or other options")
    x = as_node(g, a)
    if a_min is None and a_max is None:
        raise Unsupported("np.clip without bounds")
    _note_switch(g, "clip", [x, *(as_node(g, v) for v in (a_min, a_max) if v is not None)])
    if a_max is None:
        return _value(g, g.ew("maximum", x, as_node(g, a_min)))
    if a_min is None:
        return _value(g, g.ew("minimum", x, as_node(g, a_max)))
    return _value(g, g.ew("clip", x, as_node(g, a_min), as_node(g, a_max)))


def _full_like(value: float | None) -> Callable[..., ArrayValue]:
    def like(g: Graph, a: Any, *args: Any, dtype: Any = None, shape: Any = None, **kw: Any):
        fill = value if value is not None else args[0]
        if dtype is not None and np.dtype(dtype).kind != "f":
            raise Unsupported(f"an array of dtype {dtype} from *_like")
        if isinstance(fill, ArrayValue):
            raise Unsupported("np.full_like with a traced fill value")
        x = as_node(g, a)
        return _value(g, g.full(tuple(shape) if shape is not None else x.shape, float(fill)))

    return like


def _copy(g: Graph, a: Any, *args: Any, **kwargs: Any) -> ArrayValue:
    return _value(g, as_node(g, a))


def _broadcast_to(g: Graph, a: Any, shape: Any, subok: bool = False) -> ArrayValue:
    return _value(g, g.broadcast_to(as_node(g, a), tuple(shape)))


def _flip(g: Graph, a: Any, axis: Any = None) -> ArrayValue:
    x = as_node(g, a)
    axes = _axes(axis, x.ndim)
    flipped = tuple(
        slice(None, None, -1) if axes is None or i in axes else slice(None) for i in range(x.ndim)
    )
    return _value(g, g.getitem(x, norm_index(flipped, x.shape)))


def _shape_of(attribute: str) -> Callable[..., Any]:
    def get(g: Graph, a: Any) -> Any:
        return getattr(as_node(g, a), attribute)

    return get


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sum": _sum,
    "mean": _mean,
    "dot": _dot,
    "inner": _inner,
    "outer": _outer,
    "reshape": _np_reshape,
    "ravel": _ravel,
    "transpose": _transpose,
    "swapaxes": _swapaxes,
    "squeeze": _squeeze,
    "expand_dims": _expand_dims,
    "atleast_1d": _atleast_1d,
    "concatenate": _concatenate,
    "stack": _stack,
    "hstack": _hstack,
    "vstack": _vstack,
    "where": _where,
    "clip": _clip,
    "zeros_like": _full_like(0.0),
    "ones_like": _full_like(1.0),
    "empty_like": _full_like(0.0),
    "full_like": _full_like(None),
    "copy": _copy,
    "broadcast_to": _broadcast_to,
    "flip": _flip,
    "shape": _shape_of("shape"),
    "ndim": _shape_of("ndim"),
    "size": _shape_of("size"),
}

__all__ = ["ArrayValue", "apply_ufunc", "as_node", "elementwise"]
