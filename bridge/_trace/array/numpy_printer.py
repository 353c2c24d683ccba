"""NumPy source for array programs: vectorised statements, compiled once with ``exec``.

Each program becomes ``def <name>(<args>)`` that allocates its output (``np.empty``), runs
the statements of the schedule and writes the result into the output with ``out=`` forms
(``np.matmul(A, x, out=du)``, ``np.outer(g, x, out=out[0:128].reshape(64, 2))``) or
``dest[...] = expression``. Statements and writes correspond one to one with the Julia
printer's (``julia_printer.py``), which is what makes this the Julia code's NumPy twin.

Example
-------
>>> from bridge._trace.array.tracer import trace_arrays
>>> from bridge._trace.array.program import build_programs
>>> tr = trace_arrays(lambda u, p, t: p[:4].reshape(2, 2) @ np.tanh(u), 2, 4, None, "f")
>>> print(numpy_source(build_programs(tr)["vjp_p"]))
def vjp_p(v, u, p, t):
    out = np.empty((4,))
    x1 = np.tanh(u)
    np.outer(v, x1, out=out.reshape(2, 2))
    return out
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..ops import OPS
from .graph import Index, Node
from .printing import ATOM, MUL, NEG, ArrayPrinter
from .program import Dest, Program, Write, is_elementwise


def _slice_text(start: int, stop: int, step: int, n: int) -> str:
    if step > 0:
        a = "" if start == 0 else str(start)
        b = "" if stop >= n else str(stop)
        return f"{a}:{b}" + ("" if step == 1 else f":{step}")
    a = "" if start >= n - 1 else str(start)
    b = "" if stop < 0 else str(stop)
    return f"{a}:{b}:{step}"


def index_text(index: Index, shape: tuple[int, ...]) -> str:
    """A normalised index as NumPy source, for an array of ``shape``."""
    parts: list[str] = []
    axis = 0
    for e in index:
        if e[0] == "n":
            parts.append("None")
            continue
        if e[0] == "i":
            parts.append(str(e[1]))
        else:
            parts.append(_slice_text(e[1], e[2], e[3], shape[axis]))
        axis += 1
    while len(parts) > 1 and parts[-1] == ":":
        parts.pop()
    return ", ".join(parts)


def _shape_text(shape: tuple[int, ...]) -> str:
    return f"({shape[0]},)" if len(shape) == 1 else f"({', '.join(map(str, shape))})"


class NumpyArrayPrinter(ArrayPrinter):
    """NumPy spellings of the array program (see the module docstring)."""

    language = "NumPy"

    def literal(self, value: Any) -> tuple[str, int]:
        if isinstance(value, bool):
            return repr(value), ATOM
        return repr(float(value)), (NEG if value < 0 else ATOM)

    def operator(self, symbol: str, unary: bool = False) -> str:
        return symbol

    def call(self, op: str, args: list[str]) -> str:
        row = OPS[op]
        return f"np.{row.numpy[0] if row.numpy else row.name}({', '.join(args)})"

    def view(self, node: Node) -> tuple[str, int]:
        (arg,) = node.args
        base = self.wrap(arg, ATOM)
        if node.op == "getitem":
            return f"{base}[{index_text(node.attrs[0], arg.shape)}]", ATOM
        if node.op == "reshape":
            if arg.shape == ():
                return f"np.reshape({self.text(arg)}, {_shape_text(node.shape)})", ATOM
            dims = ", ".join(map(str, node.shape)) if node.shape else "()"
            return f"{base}.reshape({dims})", ATOM
        perm = node.attrs[0]
        if len(perm) == 2:
            return f"{base}.T", ATOM
        return f"{base}.transpose({', '.join(map(str, perm))})", ATOM

    # -- statements ---------------------------------------------------------------------------
    def statement(self, name: str, node: Node) -> list[str]:
        op = node.op
        if op == "full":
            return [
                f"{name} = np.full({_shape_text(node.shape)}, {self.literal(node.attrs[0])[0]})"
            ]
        if op == "broadcast_to":
            arg = self.text(node.args[0])
            return [f"{name} = np.broadcast_to({arg}, {_shape_text(node.shape)})"]
        if is_elementwise(node) or op in ("getitem", "reshape", "transpose"):
            text = self.expr(node)[0]
            if self.natural_shape(node) != node.shape:
                text = f"np.broadcast_to({text}, {_shape_text(node.shape)})"
            return [f"{name} = {text}"]
        if op == "setitem":
            base, value = node.args
            (index,) = node.attrs
            if base.op == "full" and base.index not in self.names:
                first = f"{name} = np.full({_shape_text(node.shape)}, {self.text(base)})"
            else:
                first = f"{name} = np.array({self.text(base)}, dtype=np.float64)"
            return [first, f"{name}[{index_text(index, node.shape)}] = {self.text(value)}"]
        if op == "assemble":
            (indices,) = node.attrs
            lines = [f"{name} = np.zeros({_shape_text(node.shape)})"]
            for index, piece in zip(indices, node.args, strict=True):
                lines.append(f"{name}[{index_text(index, node.shape)}] += {self.text(piece)}")
            return lines
        return [f"{name} = {self.value(node)}"]

    def value(self, node: Node) -> str:
        """A product, sum, concatenation or pack as an expression."""
        op, args = node.op, node.args
        if op == "matmul":
            return f"{self.wrap(args[0], MUL)} @ {self.wrap(args[1], MUL + 1)}"
        if op == "outer":
            return f"np.outer({self.text(args[0])}, {self.text(args[1])})"
        if op == "sum":
            (axes,) = node.attrs
            if len(axes) == args[0].ndim:
                return f"np.sum({self.text(args[0])})"
            axis = str(axes[0]) if len(axes) == 1 else f"({', '.join(map(str, axes))})"
            return f"np.sum({self.text(args[0])}, axis={axis})"
        if op == "concat":
            parts = ", ".join(self.text(a) for a in args)
            return f"np.concatenate(({parts},), axis={node.attrs[0]})"
        if op == "pack":
            return f"np.array([{', '.join(self.text(a) for a in args)}])"
        return self.text(node)

    # -- writes -------------------------------------------------------------------------------
    def dest(self, dest: Dest) -> str:
        if dest.kind == "out":
            return dest.root
        assert dest.parent is not None
        parent = self.dest(dest.parent)
        if dest.kind == "reshape":
            return f"{parent}.reshape({', '.join(map(str, dest.shape))})"
        return f"{parent}[{index_text(dest.index, _dest_shape(dest.parent, self.program))}]"

    def _target(self, dest: Dest) -> str:
        text = self.dest(dest)
        return text if dest.kind == "index" else f"{text}[...]"

    def write(self, write: Write) -> str:
        dest, node = write.dest, write.node
        if write.mode == "zero" or node is None:
            return f"{self._target(dest)} = 0.0"
        op = node.op
        named = node.index in self.names
        scalar_dest = _dest_shape(dest, self.program) == ()
        if write.mode == "set" and not named and not scalar_dest:
            args = node.args
            if op == "matmul" and node.shape != ():
                a, b = self.text(args[0]), self.text(args[1])
                return f"np.matmul({a}, {b}, out={self.dest(dest)})"
            if op == "outer":
                a, b = self.text(args[0]), self.text(args[1])
                return f"np.outer({a}, {b}, out={self.dest(dest)})"
            if op == "sum" and node.shape != ():
                return f"{self.value(node)[:-1]}, out={self.dest(dest)})"
            if op == "pack":
                return f"{self._target(dest)} = ({', '.join(self.text(a) for a in args)},)"
        sign = "+=" if write.mode == "add" else "="
        return f"{self._target(dest)} {sign} {self.value(node)}"


def _dest_shape(dest: Dest, program: Program) -> tuple[int, ...]:
    if dest.kind == "out":
        return program.out_shape(dest.root)
    if dest.kind == "reshape":
        return dest.shape
    from .graph import index_shape

    return index_shape(dest.index)


def numpy_source(program: Program) -> str:
    """The Python source of one program (``def <name>(<args>): ...``)."""
    printer = NumpyArrayPrinter(program)
    lines = [f"def {program.name}({', '.join(program.args)}):"]
    for out, shape in program.outs:
        lines.append(f"    {out} = np.empty({_shape_text(shape)})")
    lines.extend(f"    {line}" for line in printer.body())
    lines.append(f"    return {', '.join(out for out, _ in program.outs)}")
    return "\n".join(lines)


def compile_programs(
    programs: list[Program], constants: list[np.ndarray], filename: str
) -> dict[str, Callable[..., Any]]:
    """The programs as Python functions sharing one namespace (NumPy and the constants)."""
    source = "\n\n".join(numpy_source(p) for p in programs)
    return compile_source(source, constants, filename, [p.name for p in programs])


def compile_source(
    source: str, constants: Sequence[np.ndarray], filename: str, names: Sequence[str]
) -> dict[str, Callable[..., Any]]:
    """Functions ``names`` from generated source (``numpy_source`` texts) and its constants."""
    namespace: dict[str, Any] = {"np": np}
    namespace.update({f"C{k + 1}": c for k, c in enumerate(constants)})
    exec(compile(source, filename, "exec"), namespace)
    return {name: namespace[name] for name in names}


__all__ = ["NumpyArrayPrinter", "compile_programs", "compile_source", "index_text", "numpy_source"]
