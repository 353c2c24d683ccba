"""What the NumPy and Julia array printers share: walking a ``Program`` and precedence.

A printer turns each statement of a program into lines ``<name> = ...`` (or a few lines,
the same number in every language), then each write into one line. Expressions are printed
recursively with a binding strength, so ``a + b*c`` needs no parentheses and ``(a + b)*c``
gets them. Subclasses provide the spellings; the operation table (``ops.py``) names the
functions, ``INFIX`` the operators.

Example
-------
>>> from bridge._trace.array.tracer import trace_arrays
>>> from bridge._trace.array.program import build_programs
>>> from bridge._trace.array.numpy_printer import NumpyArrayPrinter
>>> tr = trace_arrays(lambda u, p, t: p * u - 1.0, 2, 2, None, "f")
>>> NumpyArrayPrinter(build_programs(tr)["f"]).body()
['du[...] = p * u - 1.0']
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .graph import Node
from .program import LEAVES, Dest, Program, Write, is_elementwise

# Binding strengths: a child binding less tightly than its context gets parentheses.
OR, AND, REL, ADD, MUL, NEG, POW, ATOM = 2, 3, 5, 10, 20, 25, 30, 100

#: Elementwise operations printed as operators: (NumPy operator, binding strength).
INFIX: dict[str, tuple[str, int]] = {
    "add": ("+", ADD),
    "subtract": ("-", ADD),
    "multiply": ("*", MUL),
    "divide": ("/", MUL),
    "power": ("**", POW),
    "greater": (">", REL),
    "greater_equal": (">=", REL),
    "less": ("<", REL),
    "less_equal": ("<=", REL),
    "equal": ("==", REL),
    "not_equal": ("!=", REL),
    "logical_and": ("&", AND),
    "logical_or": ("|", OR),
}


class ArrayPrinter:
    """Prints one program; subclasses spell the nodes (see the module docstring)."""

    language = ""

    def __init__(self, program: Program) -> None:
        self.program = program
        self.names = program.names
        self.used_functions: set[str] = set()

    # -- entry points -----------------------------------------------------------------------
    def body(self) -> list[str]:
        """The lines of the function body between its header and its return."""
        lines: list[str] = []
        for node in self.program.statements:
            lines.extend(self.statement(self.names[node.index], node))
        for write in self.program.writes:
            lines.append(self.write(write))
        return lines

    def statement_lines(self) -> list[list[str]]:
        """The lines of each statement and write (the twins test compares their counts)."""
        out = [self.statement(self.names[n.index], n) for n in self.program.statements]
        out.extend([self.write(w)] for w in self.program.writes)
        return out

    # -- expressions ----------------------------------------------------------------------------
    def ref(self, node: Node) -> tuple[str, int]:
        """``node`` where it is used: its statement's name, or its expression."""
        name = self.names.get(node.index)
        if name is not None:
            return name, ATOM
        return self.expr(node)

    def wrap(self, node: Node, strength: int) -> str:
        text, prec = self.ref(node)
        return f"({text})" if prec < strength else text

    def text(self, node: Node) -> str:
        return self.ref(node)[0]

    def expr(self, node: Node) -> tuple[str, int]:
        op = node.op
        if op == "input":
            return node.attrs[0], ATOM
        if op == "scalar":
            return self.literal(node.attrs[0])
        if op == "const":
            return f"C{node.attrs[0] + 1}", ATOM
        if op == "full":
            return self.literal(node.attrs[0])  # inside a broadcast: the value is enough
        if op == "broadcast_to":
            return self.ref(node.args[0])  # inside a broadcast, the shape comes for free
        if op in ("getitem", "reshape", "transpose"):
            return self.view(node)
        if is_elementwise(node):
            return self.elementwise(node)
        raise AssertionError(f"{op} is never printed inside an expression")

    def elementwise(self, node: Node) -> tuple[str, int]:
        op, args = node.op, node.args
        if op in INFIX:
            symbol, prec = INFIX[op]
            if op == "power":
                return self.power(args[0], args[1])
            left_prec = prec if op not in ("logical_and", "logical_or") else ATOM
            right_prec = prec + 1 if op not in ("logical_and", "logical_or") else ATOM
            if prec == REL:
                left_prec, right_prec = ADD, ADD
            return (
                f"{self.wrap(args[0], left_prec)} {self.operator(symbol)} "
                f"{self.wrap(args[1], right_prec)}",
                prec,
            )
        if op == "negative":
            return f"{self.operator('-', unary=True)}{self.wrap(args[0], NEG + 1)}", NEG
        self.used_functions.add(op)
        return self.call(op, [self.text(a) for a in args]), ATOM

    def power(self, base: Node, exp: Node) -> tuple[str, int]:
        if exp.op == "scalar" and float(exp.attrs[0]).is_integer() and abs(exp.attrs[0]) <= 64:
            value = int(exp.attrs[0])
            text = str(value) if value >= 0 else f"({value})"
            return f"{self.wrap(base, POW + 1)}{self.operator('**')}{text}", POW
        return self.real_power(base, exp)

    def real_power(self, base: Node, exp: Node) -> tuple[str, int]:
        self.used_functions.add("power")
        return self.call("power", [self.text(base), self.text(exp)]), ATOM

    def natural_shape(self, node: Node) -> tuple[int, ...]:
        """The shape the printed expression of ``node`` has (broadcasts print as their arg)."""
        if node.index in self.names or node.op in LEAVES:
            return node.shape
        if node.op == "full":
            return ()
        if node.op == "broadcast_to":
            return self.natural_shape(node.args[0])
        if is_elementwise(node):
            return tuple(np.broadcast_shapes(*(self.natural_shape(a) for a in node.args)))
        return node.shape

    # -- what subclasses spell ------------------------------------------------------------------
    def literal(self, value: Any) -> tuple[str, int]:
        raise NotImplementedError

    def operator(self, symbol: str, unary: bool = False) -> str:
        raise NotImplementedError

    def call(self, op: str, args: list[str]) -> str:
        raise NotImplementedError

    def view(self, node: Node) -> tuple[str, int]:
        raise NotImplementedError

    def statement(self, name: str, node: Node) -> list[str]:
        raise NotImplementedError

    def write(self, write: Write) -> str:
        raise NotImplementedError

    def dest(self, dest: Dest) -> str:
        raise NotImplementedError


__all__ = ["ATOM", "INFIX", "ArrayPrinter"]
