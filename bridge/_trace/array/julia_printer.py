"""Julia source for array programs: ``mul!`` and fused broadcasts, parameters as views of p.

The generated module has the functions DiffBridge loads (``f!``, ``jac!``, ``paramjac!``,
``vjp!``, ``vjp_p!``, the constants ``NSTATES``, ``NPARAMS``) plus ``jvp!`` (forward mode,
which ``jac!`` uses column by column), and follows shared/julia-api/USAGE.md §4 so that
ForwardDiff duals, the adjoints' element types and Dual ``t`` flow through: no annotations,
no ``Float64`` buffers (temporaries are ``similar(u, T, dims...)`` with ``T`` promoted from
the inputs, or broadcasts, which choose their element type), ``return nothing``.

Array order. A NumPy array of shape ``(d1, ..., dk)`` in C order has the memory layout of a
Julia array of shape ``(dk, ..., d1)`` in column-major order, so every array value is
printed as that reversed-axes Julia array: a weight block ``W`` (out, in) of ``p`` is
``reshape(view(p, a:b), in, out)`` (its transpose, with no copy), NumPy's trailing-axis
broadcasting is Julia's leading-axis broadcasting, and reshapes keep their meaning. Then
``W @ x`` is ``mul!(y, transpose(Wj), x)``, ``A @ B`` is ``mul!(C, Bj, Aj)``, the weight
adjoint ``outer(g, x)`` is ``mul!(dWj, x, transpose(g))`` straight into a view of ``out``,
an index ``a[i, j]`` is ``a[j+1, i+1]`` and a sum over NumPy axis ``k`` is over Julia
dimension ``ndim - k``.

Example
-------
>>> import numpy as np
>>> from bridge._trace.array.tracer import trace_arrays
>>> from bridge._trace.array.program import build_programs
>>> tr = trace_arrays(lambda u, p, t: p[:4].reshape(2, 2) @ np.tanh(u), 2, 4, None, "f")
>>> print(julia_function(build_programs(tr)["f"]))
function f!(du, u, p, t)
    x1 = tanh.(u)
    mul!(du, transpose(reshape(p, 2, 2)), x1)
    return nothing
end
"""

from __future__ import annotations

import re
from typing import Any

from .. import julia_codegen
from ..julia_codegen import JuliaPrinter
from ..ops import OPS
from .graph import Index, Node, index_shape
from .printing import ATOM, NEG, POW, ArrayPrinter
from .program import Dest, Program, Write, is_elementwise

_FLOATS = JuliaPrinter({})  # for its float literals


def _dims(shape: tuple[int, ...]) -> str:
    """Julia dimensions of a NumPy shape (reversed)."""
    return ", ".join(str(s) for s in reversed(shape))


def _range(start: int, stop: int, step: int, n: int) -> str:
    r = range(start, stop, step)
    if len(r) == n and step == 1:
        return ":"
    if not r:
        return "1:0"
    first, last = r[0] + 1, r[-1] + 1
    if step == 1:
        return f"{first}:{last}"
    return f"{first}:{step}:{last}"


def index_parts(index: Index, shape: tuple[int, ...]) -> tuple[list[str], bool, bool]:
    """Julia indices (in Julia order) of a NumPy index on ``shape``; all ints?; newaxes?"""
    parts: list[str] = []
    axis = 0
    all_ints = True
    newaxes = False
    for e in index:
        if e[0] == "n":
            newaxes = True
            continue
        if e[0] == "i":
            parts.append(str(e[1] + 1))
        else:
            all_ints = False
            parts.append(_range(e[1], e[2], e[3], shape[axis]))
        axis += 1
    return parts[::-1], all_ints, newaxes


def _julia_perm(perm: tuple[int, ...]) -> tuple[int, ...]:
    k = len(perm)
    return tuple(k - perm[k - 1 - j] for j in range(k))


class JuliaArrayPrinter(ArrayPrinter):
    """Julia spellings of the array program (see the module docstring)."""

    language = "Julia"

    def literal(self, value: Any) -> tuple[str, int]:
        if isinstance(value, bool):
            return ("true" if value else "false"), ATOM
        return _FLOATS.format_float(float(value)), (NEG if value < 0 else ATOM)

    def operator(self, symbol: str, unary: bool = False) -> str:
        return "." + ("^" if symbol == "**" else symbol)

    def call(self, op: str, args: list[str]) -> str:
        if op == "logical_not":
            return f".!({args[0]})"
        row = OPS[op]
        # Outside its domain Base's function throws where NumPy gives NaN: the NaN helper.
        spelling = row.julia_nan or row.julia
        if spelling is None:
            raise AssertionError(f"the operation table has no Julia spelling for {op}")
        return f"{spelling}.({', '.join(args)})"

    def real_power(self, base: Node, exp: Node) -> tuple[str, int]:
        row = OPS["power"]
        spelling = row.julia_nan or row.julia
        if spelling is not None:
            return f"{spelling}.({self.text(base)}, {self.text(exp)})", ATOM
        return f"{self.wrap(base, POW + 1)} .^ {self.wrap(exp, POW + 1)}", POW

    def view(self, node: Node) -> tuple[str, int]:
        (arg,) = node.args
        base = self.text(arg)
        if node.op == "getitem":
            parts, all_ints, newaxes = index_parts(node.attrs[0], arg.shape)
            if all_ints and not newaxes:
                return f"{self.wrap(arg, ATOM)}[{', '.join(parts)}]", ATOM
            text = f"view({base}, {', '.join(parts)})" if parts else base
            if newaxes:
                text = f"reshape({text}, {_dims(node.shape)})"
            return text, ATOM
        if node.op == "reshape":
            if arg.shape == ():
                return f"fill({base}, {_dims(node.shape)})", ATOM
            if node.shape == ():
                return f"{self.wrap(arg, ATOM)}[1]", ATOM
            return f"reshape({base}, {_dims(node.shape)})", ATOM
        return self.transposed(node), ATOM

    def transposed(self, node: Node) -> str:
        (arg,) = node.args
        perm = node.attrs[0]
        if len(perm) == 2:
            return f"transpose({self.text(arg)})"
        q = ", ".join(map(str, _julia_perm(perm)))
        return f"PermutedDimsArray({self.text(arg)}, ({q}))"

    def transpose_of(self, node: Node) -> str:
        """The Julia transpose of a 2-d value (``transpose(transpose(x))`` printed as x)."""
        if node.op == "transpose" and node.index not in self.names:
            return self.text(node.args[0])
        return f"transpose({self.text(node)})"

    def buffer(self, shape: tuple[int, ...]) -> str:
        return f"similar(u, T, {_dims(shape)})"

    # -- statements ---------------------------------------------------------------------------
    def statement(self, name: str, node: Node) -> list[str]:
        op = node.op
        if op == "full":
            return [f"{name} = fill!({self.buffer(node.shape)}, {self.literal(node.attrs[0])[0]})"]
        if op == "broadcast_to":
            return [f"{name} = ({self.buffer(node.shape)} .= {self.text(node.args[0])})"]
        if is_elementwise(node) or op in ("getitem", "reshape", "transpose"):
            text = self.expr(node)[0]
            if self.natural_shape(node) != node.shape:
                text = f"({self.buffer(node.shape)} .= {text})"
            return [f"{name} = {text}"]
        if op == "setitem":
            base, value = node.args
            (index,) = node.attrs
            if base.op == "full" and base.index not in self.names:
                first = f"{name} = fill!({self.buffer(node.shape)}, {self.text(base)})"
            else:
                first = f"{name} = copyto!({self.buffer(node.shape)}, {self.text(base)})"
            target = self._element_or_view(name, index, node.shape)
            return [first, f"{target} {self._assign(index)} {self.text(value)}"]
        if op == "assemble":
            (indices,) = node.attrs
            lines = [f"{name} = fill!({self.buffer(node.shape)}, zero(T))"]
            for index, piece in zip(indices, node.args, strict=True):
                target = self._element_or_view(name, index, node.shape)
                lines.append(f"{target} {self._assign(index, add=True)} {self.text(piece)}")
            return lines
        return [f"{name} = {self.value(node, self.buffer(node.shape))}"]

    @staticmethod
    def _assign(index: Index, add: bool = False) -> str:
        scalar = all(e[0] == "i" for e in index)
        return ("+=" if add else "=") if scalar else (".+=" if add else ".=")

    def _element_or_view(self, base: str, index: Index, shape: tuple[int, ...]) -> str:
        parts, all_ints, _ = index_parts(index, shape)
        if all_ints:
            return f"{base}[{', '.join(parts)}]"
        return f"view({base}, {', '.join(parts)})"

    def value(self, node: Node, dest: str, add: bool = False) -> str:
        """A product or sum computed into ``dest`` (returning it), or another value."""
        op, args = node.op, node.args
        extra = ", true, true" if add else ""
        if op == "matmul":
            a, b = args
            if a.ndim == 1 and b.ndim == 1:
                return f"dot({self.text(a)}, {self.text(b)})"
            if b.ndim == 1:
                return f"mul!({dest}, {self.transpose_of(a)}, {self.text(b)}{extra})"
            return f"mul!({dest}, {self.text(b)}, {self.text(a)}{extra})"
        if op == "outer":
            a, b = args
            return f"mul!({dest}, {self.text(b)}, transpose({self.text(a)}){extra})"
        if op == "sum":
            (axes,) = node.attrs
            x = args[0]
            if len(axes) == x.ndim:
                return f"sum({self.text(x)})"
            dims = ", ".join(str(x.ndim - a) for a in sorted(axes, reverse=True))
            dims = f"({dims},)"
            return f"dropdims(sum({self.text(x)}; dims={dims}); dims={dims})"
        if op == "concat":
            (axis,) = node.attrs
            parts = ", ".join(self.text(a) for a in args)
            if node.ndim == 1:
                return f"vcat({parts})"
            return f"cat({parts}; dims={node.ndim - axis})"
        if op == "pack":
            return f"[{', '.join(self.text(a) for a in args)}]"
        return self.text(node)

    # -- writes -------------------------------------------------------------------------------
    def dest(self, dest: Dest) -> str:
        if dest.kind == "out":
            return dest.root
        assert dest.parent is not None
        parent = self.dest(dest.parent)
        if dest.kind == "reshape":
            return f"reshape({parent}, {_dims(dest.shape)})"
        return self._element_or_view(parent, dest.index, _dest_shape(dest.parent, self.program))

    def write(self, write: Write) -> str:
        dest, node = write.dest, write.node
        target = self.dest(dest)
        element = dest.kind == "index" and all(e[0] == "i" for e in dest.index)
        if write.mode == "zero" or node is None:
            zero = f"zero(eltype({_root(dest)}))"
            return f"{target} = {zero}" if element else f"fill!({target}, {zero})"
        add = write.mode == "add"
        if element:
            return f"{target} {'+=' if add else '='} {self.value(node, '')}"
        named = node.index in self.names
        op = node.op
        if not named and (op in ("matmul", "outer") and node.shape != ()):
            return self.value(node, target, add=add)
        if not named and op == "sum" and node.shape != () and not add:
            x = node.args[0]
            (axes,) = node.attrs
            kept = tuple(1 if i in axes else s for i, s in enumerate(x.shape))
            return f"sum!(reshape({target}, {_dims(kept)}), {self.text(x)})"
        if not named and op == "pack":
            value = f"({', '.join(self.text(a) for a in node.args)},)"
        else:
            value = self.value(node, self.buffer(node.shape))
        return f"{target} {'.+=' if add else '.='} {value}"


def _dest_shape(dest: Dest, program: Program) -> tuple[int, ...]:
    if dest.kind == "out":
        return program.out_shape(dest.root)
    if dest.kind == "reshape":
        return dest.shape
    return index_shape(dest.index)


def _root(dest: Dest) -> str:
    while dest.parent is not None:
        dest = dest.parent
    return dest.root


_T_WORD = re.compile(r"\bT\b")
_SEEDS = {"v": "eltype(v)", "w": "eltype(w)", "u": "eltype(u)", "p": "eltype(p)", "t": "typeof(t)"}


def julia_function(program: Program, n_params: int | None = None) -> str:
    """The Julia text of one in-place function ``<name>!(<out>, <args>...)``."""
    printer = JuliaArrayPrinter(program)
    body = printer.body()
    lines = [f"function {program.name}!({program.out}, {', '.join(program.args)})"]
    if any(_T_WORD.search(line) for line in body):
        seeds = ["eltype(u)"]
        for arg in program.args:
            if arg in program.reads and arg != "u" and not (arg == "p" and n_params == 0):
                seeds.append(_SEEDS[arg])
        lines.append(f"    T = promote_type({', '.join(seeds)})")
    lines.extend(f"    {line}" for line in body)
    lines.append("    return nothing")
    lines.append("end")
    return "\n".join(lines)


def _jacobians(n_params: int) -> list[str]:
    """``jac!`` by columns of ``jvp!`` and ``paramjac!`` by rows of ``vjp_p!`` (n is small)."""
    jac = [
        "function jac!(J, u, p, t)",
        "    e = fill!(similar(u, promote_type(eltype(J), eltype(u))), 0)",
        "    for j in 1:NSTATES",
        "        e[j] = 1",
        "        jvp!(view(J, :, j), e, u, p, t)",
        "        e[j] = 0",
        "    end",
        "    return nothing",
        "end",
    ]
    paramjac = [
        "function paramjac!(pJ, u, p, t)",
        "    e = fill!(similar(u, promote_type(eltype(pJ), eltype(u))), 0)",
        "    for i in 1:NSTATES",
        "        e[i] = 1",
        "        vjp_p!(view(pJ, i, :), e, u, p, t)",
        "        e[i] = 0",
        "    end",
        "    return nothing",
        "end",
    ]
    if n_params == 0:
        paramjac = [
            "function paramjac!(pJ, u, p, t)",
            "    fill!(pJ, zero(eltype(pJ)))",
            "    return nothing",
            "end",
        ]
    return ["\n".join(jac), "\n".join(paramjac)]


def _constant(name: str, value: Any) -> str:
    flat = value.ravel()  # C order: the column-major layout of the reversed shape
    if value.dtype.kind == "b":
        items = ", ".join("true" if x else "false" for x in flat)
        data = f"Bool[{items}]"
    else:
        items = ", ".join(_FLOATS.format_float(float(x)) for x in flat)
        data = f"Float64[{items}]"
    if value.ndim > 1:
        data = f"reshape({data}, {_dims(value.shape)})"
    return f"const {name} = {data}"


def julia_module(
    module_name: str, programs: list[Program], constants: list[Any], n_states: int, n_params: int
) -> str:
    """A complete ``module <module_name> ... end`` for an array model."""
    julia_codegen.julia_module(module_name, [], n_states, n_params)  # checks the name
    functions = [julia_function(p, n_params) for p in programs]
    functions.extend(_jacobians(n_params))
    text = "\n".join(functions)
    imports = [name for name in ("mul!", "dot") if re.search(rf"\b{re.escape(name)}\(", text)]
    helpers = []
    for op in OPS.values():
        name = op.julia_nan
        if op.julia_helper and name and re.search(rf"\b{re.escape(name)}\.\(", text):
            helpers.append(op.julia_helper)
    parts = [f"module {module_name}", ""]
    if imports:
        parts.extend([f"using LinearAlgebra: {', '.join(imports)}", ""])
    parts.append(f"const NSTATES = {n_states}")
    parts.append(f"const NPARAMS = {n_params}")
    parts.extend(_constant(f"C{k + 1}", c) for k, c in enumerate(constants))
    parts.extend(helpers)
    for function in functions:
        parts.extend(["", function])
    parts.extend(["", "end # module", ""])
    return "\n".join(parts)


__all__ = ["JuliaArrayPrinter", "julia_function", "julia_module"]
