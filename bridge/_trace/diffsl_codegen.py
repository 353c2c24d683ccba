"""DiffSL source for a traced model: the language diffsol (``bridge._diffsol``) compiles.

The right-hand side program ``f`` of a traced model prints as one DiffSL model::

    in_i { p0 = 0, ..., ic0 = 0, ... }   the inputs: p, then u0 (so sensitivities are d/d(p, u0))
    u_i { x0 = ic0, ... }                 the state, starting at the u0 inputs
    w1 { ... }                            scalar intermediates (the tape and common subexpressions)
    F_i { ..., }                          du/dt

diffsol differentiates the compiled code itself (Jacobians, sensitivities, adjoints), so only
``f`` is printed. Input values in the text only give shapes: the values come with each solve,
and the source depends on the model alone (one compiled model per source).

DiffSL has no comparison operators and no ``atan``, ``asin``, ``acos``, ``atan2``, ``log1p``,
``expm1``, ``atanh`` or ``sign``, and its ``min``/``max`` drop NaN. The operation table's
``diffsl`` column (``bridge/_trace/ops.py``) gives each operation's DiffSL function, or marks
it as built here from ``piecewise`` (``piecewise(c0, v0, c1, v1, ..., fallback)`` returns the
first ``v`` whose ``c >= 0``; a NaN condition is false), so that NaN propagates as in NumPy:

* ``np.where(c, a, b)``: the condition becomes ``piecewise`` tests; ``x > y`` is
  ``piecewise(y - x, b, x - y, a, b)`` so that a NaN comparison takes ``b`` as NumPy does
  (two infinities of the same sign also compare as unordered: ``inf >= inf`` is false);
* ``np.minimum``/``np.maximum``: ``piecewise(b - a, a, a - b, b, a + b)`` (NaN in, NaN out);
  ``np.clip(x, lo, hi)`` is ``minimum(maximum(x, lo), hi)`` as in NumPy; ``np.sign``;
* ``log1p``/``expm1`` with Goldberg's and Kahan's corrections (accurate to a few ulps, no
  cancellation near 0); ``arctanh(x) = log1p(2x / (1 - x)) / 2``.

Operands those constructions read more than once are named first (``h1 { ... }``), so nested
switches do not grow the text exponentially. Operations with no DiffSL spelling raise
``TraceError`` naming the NumPy function, which ``bridge._diffsol`` turns into the reason the
engine cannot run the model.

``diffsl_source(model, reflected=True)`` prints the time-reflected model ``dv/ds = -f(v, p, -s)``
that diffsol integrates forward in ``s = -t`` when ``t1 < t0`` (diffsol refuses reverse time).
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Mapping
from typing import Any

import sympy as sp

from .._errors import TraceError
from .ops import HEADS, spellings
from .printer import CodePrinter, prune_unused
from .program import Program

#: The only names a DiffSL identifier may have (no ``_``: it starts the index letters).
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_NUMBER = re.compile(r"-?\d+(\.\d*)?(e[-+]?\d+)?(/\d+)?")
#: Above this value log1p(x) is log(x) to double precision (and (1 + x) - 1 would overflow).
_HUGE = "1e300"
#: exp(x) for x above this is within rounding of expm1(x) (and exp(x) / log(exp(x)) is inf/inf).
_EXP_BIG = "700"


#: SymPy head -> DiffSL function, for the operations DiffSL has (the "@" ones are built here).
_FUNCTIONS = {head: name for head, name in spellings("diffsl").items() if not name.startswith("@")}


def _atom(text: str) -> bool:
    return bool(_IDENTIFIER.fullmatch(text) or _NUMBER.fullmatch(text))


def _neg(text: str) -> str:
    return f"-{text}" if _IDENTIFIER.fullmatch(text) else f"-({text})"


class DiffslPrinter(CodePrinter):
    """Prints SymPy expressions as DiffSL (``pow`` for powers, ``piecewise`` for switches).

    ``definitions`` collects the intermediates the printer names for operands it reads more
    than once; the caller writes them out before the line that uses them.

    Example
    -------
    >>> x = sp.Symbol("u_0")
    >>> DiffslPrinter({x: "x0"}).doprint(1e-5 * x**2 + sp.Float(0.5))
    '0.5 + 1e-05*pow(x0, 2)'
    >>> printer = DiffslPrinter({x: "x0"})
    >>> printer.doprint(sp.Piecewise((x, x > 1), (2 * x, True)))
    'piecewise(1 - x0, h1, x0 - 1, x0, h1)'
    >>> printer.definitions
    [('h1', '2*x0')]
    """

    language = "DiffSL"
    functions = _FUNCTIONS
    power = "^"  # never printed: every power is pow(), sqrt() or a division

    def __init__(
        self,
        names: Mapping[sp.Basic, str],
        temps: Mapping[sp.Basic, str] | None = None,
        prefix: str = "",
    ) -> None:
        super().__init__(names, temps)
        self.definitions: list[tuple[str, str]] = []
        self._named: dict[str, str] = {}
        #: Put before the names of the intermediates it makes (``h1`` -> ``e1h1``), so
        #: that several programs can print into one DiffSL file.
        self.prefix = prefix

    def unsupported(self, what: str) -> TraceError:
        return TraceError(
            f"cannot generate DiffSL code for {what}: DiffSL, the language of the diffsol "
            "engine, has no such operation"
        )

    def function_name(self, name: str) -> str:
        try:
            return self.functions[name]
        except KeyError:
            op = HEADS.get(name)
            label = f"np.{op.numpy[0]}" if op is not None and op.numpy else name
            raise self.unsupported(f"{label} ({name})") from None

    # -- naming operands ------------------------------------------------------------------
    def name_text(self, text: str) -> str:
        """``text`` if it is a name or a number, else a new intermediate holding it."""
        if _atom(text):
            return text
        name = self._named.get(text)
        if name is None:
            name = f"{self.prefix}h{len(self._named) + 1}"
            self._named[text] = name
            self.definitions.append((name, text))
        return name

    def operand(self, expr: sp.Basic) -> str:
        return self.name_text(self.doprint(expr))

    # -- arithmetic -------------------------------------------------------------------------
    def _print_Pow(self, expr: sp.Pow) -> tuple[str, int]:
        base, exp = expr.args
        if exp is sp.S.Half or exp is sp.S.NegativeOne or -exp is sp.S.Half:
            return super()._print_Pow(expr)  # sqrt(b), 1/b, 1/sqrt(b)
        return f"pow({self.doprint(base)}, {self.doprint(exp)})", 100

    def format_float(self, value: float) -> str:
        return repr(value)  # 1e-05, 1.5e+20, 0.1: all DiffSL reals

    # -- switches ---------------------------------------------------------------------------
    def select(self, cond: sp.Basic, a: str, b: str) -> str:
        """DiffSL for ``a if cond else b`` (``a``, ``b``: names or numbers), NaN as NumPy."""
        if cond is sp.true:
            return a
        if cond is sp.false:
            return b
        if isinstance(cond, sp.Not):
            return self.select(cond.args[0], b, a)
        if isinstance(cond, (sp.And, sp.Or)):
            first, *rest = cond.args
            inner = self.name_text(self.select(type(cond)(*rest), a, b))
            return (
                self.select(first, inner, b)
                if isinstance(cond, sp.And)
                else (self.select(first, a, inner))
            )
        if not isinstance(cond, sp.core.relational.Relational):
            raise self.unsupported(f"the condition {cond}")
        x, y = self.operand(cond.lhs), self.operand(cond.rhs)
        op = cond.rel_op
        if op in ("<", "<="):
            x, y, op = y, x, {"<": ">", "<=": ">="}[op]
        if op == ">=":
            return f"piecewise({x} - {y}, {a}, {b})"
        if op == ">":
            return f"piecewise({y} - {x}, {b}, {x} - {y}, {a}, {b})"
        if op == "==":
            return f"piecewise(-abs({x} - {y}), {a}, {b})"
        if op == "!=":
            return f"piecewise(-abs({x} - {y}), {b}, {a})"
        raise self.unsupported(f"the relation {op}")

    def _print_Piecewise(self, expr: sp.Piecewise) -> tuple[str, int]:
        *pieces, (last, last_cond) = expr.args
        if last_cond is not sp.true:
            raise self.unsupported(f"a Piecewise without a default ({expr})")
        text = self.doprint(last)
        for value, cond in reversed(pieces):
            text = self.select(cond, self.operand(value), self.name_text(text))
        return text, 100

    def _minimum(self, a: str, b: str) -> str:
        return f"piecewise({b} - {a}, {a}, {a} - {b}, {b}, {a} + {b})"

    def _maximum(self, a: str, b: str) -> str:
        return f"piecewise({a} - {b}, {a}, {b} - {a}, {b}, {a} + {b})"

    def _log1p(self, x: str) -> str:
        # Goldberg: log(w) * x / (w - 1) with w = 1 + x rounded is log1p(x) to a few ulps.
        w = self.name_text(f"1 + {x}")
        return f"piecewise(-abs({w} - 1), {x}, {x} - {_HUGE}, log({x}), log({w})*{x}/({w} - 1))"

    def _print_Function(self, expr: Any) -> tuple[str, int]:
        head = type(expr).__name__
        op = HEADS.get(head)
        if op is None or op.diffsl is None or not op.diffsl.startswith("@"):
            return super()._print_Function(expr)
        args = [self.operand(a) for a in expr.args]
        kind = op.diffsl[1:]
        if kind == "minimum":
            return self._minimum(*args), 100
        if kind == "maximum":
            return self._maximum(*args), 100
        if kind == "clip":
            x, lo, hi = args
            return self._minimum(self.name_text(self._maximum(x, lo)), hi), 100
        if kind == "sign":
            (x,) = args
            return f"piecewise({_neg(x)}, piecewise({x}, 0, -1), piecewise({x}, 1, {x}))", 100
        if kind == "log1p":
            return self._log1p(args[0]), 100
        if kind == "expm1":
            (x,) = args
            u = self.name_text(f"exp({x})")
            return (
                f"piecewise(-abs({u} - 1), {x}, {_neg(u)}, -1, {x} - {_EXP_BIG}, {u}, "
                f"({u} - 1)*{x}/log({u}))"
            ), 100
        if kind == "atanh":
            # log1p(2x / (1 - x)) / 2 near 0; near +-1 that cancels in 1 + 2x / (1 - x),
            # where log((1 + x) / (1 - x)) / 2 is exact enough (1 + x is exact there).
            (x,) = args
            near0 = self.name_text(self._log1p(self.name_text(f"2*{x}/(1 - {x})")))
            return f"piecewise(abs({x}) - 0.5, 0.5*log((1 + {x})/(1 - {x})), 0.5*{near0})", 100
        raise self.unsupported(f"{head} (no DiffSL construction named {op.diffsl!r})")


def _names(program: Program, t: sp.Basic | None, reflected: bool) -> dict[sp.Basic, str]:
    names: dict[sp.Basic, str] = {}
    for s, i in zip(program.inputs["u"], range(len(program.inputs["u"])), strict=True):
        names[s] = f"x{i}"
    for s, i in zip(program.inputs["p"], range(len(program.inputs["p"])), strict=True):
        names[s] = f"p{i}"
    if t is not None:
        names[t] = "(-t)" if reflected else "t"
    return names


def _comment(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_ .,:;=()'+-]", "?", text)


def _listing(items: list[str], per_line: int = 8) -> str:
    if len(items) <= per_line:
        return " " + ", ".join(items) + " "
    lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
    return "\n  " + ",\n  ".join(lines) + ",\n"


def print_program(
    program: Program, names: dict[sp.Basic, str], prefix: str = ""
) -> tuple[list[tuple[str, str]], list[str]]:
    """A program's intermediates as DiffSL ``(name, text)`` definitions, in order, and the
    texts of its entries. ``names`` maps the inputs (see ``_names``); the intermediates are
    named ``<prefix>w1``, ``<prefix>h1``, ... (``bridge/_trace/events_codegen.py`` prints
    several programs into one file with distinct prefixes).
    """
    names = dict(names)
    temps: dict[sp.Basic, str] = {}
    locals_: list[tuple[str, sp.Basic]] = []
    for local, expr in program.assignments:
        if not isinstance(expr, sp.Expr):
            continue  # a shared condition: DiffSL has no booleans, so it is inlined
        new = f"{prefix}w{len(locals_) + 1}"
        if program.temps.get(expr) == local:
            temps[expr] = new
        else:
            names[sp.Symbol(local, real=True)] = new
        locals_.append((new, expr))
    printer = DiffslPrinter(names, temps, prefix)
    defined: list[tuple[str, str]] = []
    for local, expr in locals_:
        text = printer.define(expr)
        defined.extend(printer.definitions)
        printer.definitions.clear()
        defined.append((local, text))
    outputs = []
    for _, expr in program.entries:
        outputs.append(printer.doprint(expr))
        defined.extend(printer.definitions)
        printer.definitions.clear()
    return defined, outputs


def program_source(
    program: Program, name: str, t: sp.Basic | None = None, *, reflected: bool = False
) -> str:
    """The DiffSL model for a right-hand-side program ``f`` (see the module docstring).

    Example
    -------
    >>> from bridge._trace.program import build_programs
    >>> from bridge._trace.tracer import trace
    >>> tr = trace(lambda u, p, t: [-p[0] * u[0]], 1, 1)
    >>> print(program_source(build_programs(tr)[0], "decay", tr.t))
    // bridge model 'decay': du/dt = f(u, p, t) with 1 states and 1 parameters.
    // Inputs: p0..p0 are p[0..0], then ic0..ic0 are u0[0..0].
    in_i { p0 = 0, ic0 = 0 }
    u_i { x0 = ic0 }
    F_i { -p0*x0 }
    <BLANKLINE>
    """
    n, m = len(program.inputs["u"]), len(program.inputs["p"])
    defined, printed = print_program(program, _names(program, t, reflected))
    outputs = [f"-({text})" if reflected else text for text in printed]
    inputs = [f"p{k} = 0" for k in range(m)] + [f"ic{i} = 0" for i in range(n)]
    states = [f"x{i} = ic{i}" for i in range(n)]
    what = "dv/ds = -f(v, p, -s), s = -t" if reflected else "du/dt = f(u, p, t)"
    lines = [
        f"// bridge model {_comment(repr(name))}: {what} with {n} states and {m} parameters.",
        f"// Inputs: p0..p{max(m - 1, 0)} are p[0..{max(m - 1, 0)}], then ic0..ic{n - 1} "
        f"are u0[0..{n - 1}].",
        f"in_i {{{_listing(inputs)}}}",
        f"u_i {{{_listing(states)}}}",
    ]
    for local, text in prune_unused(defined, outputs):
        lines.append(f"{local} {{ {text} }}")
    lines.append(f"F_i {{{_listing(outputs, per_line=1 if n > 1 else 8)}}}")
    return "\n".join(lines) + "\n"


_CACHE: weakref.WeakKeyDictionary[Any, dict[bool, str]] = weakref.WeakKeyDictionary()


def diffsl_source(model: Any, *, reflected: bool = False) -> str:
    """The DiffSL source diffsol compiles for a traced model (cached per model).

    ``reflected=True`` gives the time-reflected model used for reverse-time solves.
    Raises ``TraceError`` when the model uses an operation DiffSL cannot express.

    Example
    -------
    >>> from bridge._trace import trace_model
    >>> def lotka_volterra(u, p, t):
    ...     x, y = u
    ...     a, b, c, d = p
    ...     return [a * x - b * x * y, -c * y + d * x * y]
    >>> print(diffsl_source(trace_model(lotka_volterra, 2, 4)).split("u_i")[1])
     { x0 = ic0, x1 = ic1 }
    F_i {
      p0*x0 - p1*x0*x1,
      -p2*x1 + p3*x0*x1,
    }
    <BLANKLINE>
    """
    carried = getattr(model, "generated", None)  # a model rebuilt from its source (portable.py)
    if carried and (text := carried.get("diffsl-reflected" if reflected else "diffsl")):
        return str(text)
    programs = getattr(model, "programs", None)
    if not isinstance(programs, Mapping) or not isinstance(programs.get("f"), Program):
        raise TraceError(
            f"cannot generate DiffSL code for right-hand side {getattr(model, 'name', '?')!r}: "
            "it was traced as whole-array operations (matrix products of at least "
            "bridge._trace.array.ARRAY_MIN_WORK multiply-adds), and only scalar traced models "
            "are printed as DiffSL (docs/diffsl.md says why)"
        )
    per_model = _CACHE.setdefault(model, {})
    source = per_model.get(reflected)
    if source is None:
        trace = getattr(model, "trace", None)
        t = getattr(trace, "t", None)
        source = program_source(programs["f"], model.name, t, reflected=reflected)
        per_model[reflected] = source
    return source


__all__ = ["DiffslPrinter", "diffsl_source", "print_program", "program_source"]
