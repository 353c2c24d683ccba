"""The tape a trace records into, and where in the user's code an error happened.

Array operations that are worth naming (transcendental functions, matrix products, sums)
bind each result element to a fresh intermediate symbol ``x<k>`` on the tape, so the model
is a short straight-line program rather than one expanded expression per output. The
derivatives are then taken by the chain rule over these intermediates
(``derivatives.py``), which keeps them small, and the code generators emit them as scalar
locals.
"""

from __future__ import annotations

import linecache
import os
import sys
import traceback
from dataclasses import dataclass
from types import FrameType, TracebackType

import numpy as np
import sympy as sp

from .._errors import TraceError

_OWN_DIR = os.path.dirname(os.path.abspath(__file__))
_NUMPY_DIR = os.path.dirname(os.path.abspath(np.__file__))
_SYMPY_DIR = os.path.dirname(os.path.abspath(sp.__file__))


@dataclass(frozen=True)
class Switch:
    """A NumPy call in the user's code that picks between branches by a traced value.

    ``conditions`` are the expressions whose sign (or truth) decides; ``jumps`` is False
    when the value is continuous across the switch (``np.maximum``, ``np.abs``, ...).
    """

    kind: str
    location: str
    conditions: tuple[sp.Basic, ...]
    jumps: bool

    def describe(self) -> str:
        return f"{self.kind} at {self.location}" if self.location else self.kind


class Tape:
    """Intermediate assignments ``x<k> = expr`` recorded while tracing one function.

    Example
    -------
    >>> tape = Tape("f")
    >>> u = sp.Symbol("u_0", real=True)
    >>> tape.bind(sp.exp(u))
    x1
    >>> tape.assignments
    [(x1, exp(u_0))]
    """

    def __init__(self, func_name: str, kind: str = "right-hand side") -> None:
        self.func_name = func_name
        #: What is traced, for messages: "right-hand side" or "loss".
        self.kind = kind
        self.assignments: list[tuple[sp.Symbol, sp.Expr]] = []
        self._seen: dict[sp.Expr, sp.Symbol] = {}
        #: NumPy calls with an operand of ndim >= 1: 0 means scalar-style user code.
        self.array_ops = 0
        self.switches: list[Switch] = []
        #: For messages: the sizes of the inputs ("u0 has 2 states, p has 0 entries"), and
        #: the last input array unpacked (`x, y = u`) with its length.
        self.sizes = ""
        self.unpacked: tuple[str, int] | None = None

    def note_switch(self, kind: str, conditions: object, jumps: bool) -> None:
        """Record a switch (see ``Switch``) at the user's current line."""
        flat = tuple(c for c in np.ravel(np.asarray(conditions, dtype=object)) if c is not None)
        if any(isinstance(c, sp.Basic) and c.free_symbols for c in flat):
            self.switches.append(Switch(kind, user_location(), flat, jumps))

    def note_operands(self, operands: object) -> None:
        """Count a NumPy call as array-level if any operand is an array (see model.py)."""
        items = operands if isinstance(operands, (list, tuple)) else (operands,)
        for item in items:
            if isinstance(item, (list, tuple)):
                continue  # np.stack([x, y]) of scalars is packing, not array work
            if getattr(item, "ndim", 0) >= 1:
                self.array_ops += 1
                return

    def bind(self, expr: sp.Basic) -> sp.Basic:
        """Name ``expr`` with a fresh symbol (reusing the name of an identical expression)."""
        if expr.is_Atom or not isinstance(expr, sp.Expr):
            return expr
        sym = self._seen.get(expr)
        if sym is None:
            sym = sp.Symbol(f"x{len(self.assignments) + 1}", real=True)
            self.assignments.append((sym, expr))
            self._seen[expr] = sym
        return sym

    def error(self, problem: str, hint: str = "", *, locate: bool = True) -> TraceError:
        """A TraceError naming the traced function and the user's line that caused it."""
        location = user_location() if locate else ""
        return TraceError(_message(self.kind, self.func_name, problem, location, hint))


def _is_user_file(filename: str) -> bool:
    path = os.path.abspath(filename)
    return not any(path.startswith(d + os.sep) for d in (_OWN_DIR, _NUMPY_DIR, _SYMPY_DIR))


def _describe(filename: str, lineno: int, funcname: str) -> str:
    line = linecache.getline(filename, lineno).strip()
    where = f"{os.path.basename(filename)}, line {lineno}, in {funcname}"
    return f"{where}: `{line}`" if line else where


def user_location() -> str:
    """The innermost calling line outside bridge's tracer, NumPy and SymPy, described."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if _is_user_file(code.co_filename):
            return _describe(code.co_filename, frame.f_lineno, code.co_name)
        frame = frame.f_back
    return ""


def traceback_location(tb: TracebackType | None) -> str:
    """The innermost user line of an exception's traceback, described."""
    found = ""
    for summary in traceback.extract_tb(tb):
        if _is_user_file(summary.filename) and summary.lineno is not None:
            found = _describe(summary.filename, summary.lineno, summary.name)
    return found


def _message(kind: str, func_name: str, problem: str, location: str, hint: str) -> str:
    text = f"cannot trace {kind} {func_name!r}"
    if location:
        text += f" ({location})"
    text += f": {problem}"
    if hint:
        text += f". {hint}"
    return text
