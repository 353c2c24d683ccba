"""The shared base of the NumPy and Julia printers: a name table plus small ``_print`` methods.

A printer maps symbols through a name table (``u_0`` -> ``u[1]`` in Julia) and functions
through a function table; anything not in the tables raises ``TraceError`` naming the
construct, rather than emitting code the target would reject (or accept with another
meaning). Common subexpressions print as the name of their temporary.

It is written directly on SymPy's node types rather than on ``StrPrinter``: that printer
re-sorts and re-analyses every product, which took ~0.3 s per target for a 2→50→2 MLP's
derivatives; this one is linear in the expression DAG and prints the same shapes
(``a*b/c``, ``-x``, ``x^2``) in SymPy's canonical argument order, so output is stable.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import sympy as sp

from .._errors import TraceError

# Binding strengths: a child binding less tightly than its context gets parentheses.
_ADD, _MUL, _NEG, _POW, _ATOM = 10, 20, 25, 30, 100
_RELATIONAL = 5
_SYMBOL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def negate(expr: sp.Basic) -> sp.Basic:
    """``-expr`` for a product with a negative coefficient, without SymPy re-canonicalising.

    Printing ``-2*x*y`` as ``-`` and ``2*x*y`` happens for every negative term; building the
    positive product through ``Mul.flatten`` each time was a large share of code generation.
    Only the leading number changes, so the arguments stay in canonical order.

    Example
    -------
    >>> x, y = sp.symbols("x y")
    >>> negate(-2 * x * y), negate(-x * y), negate(sp.Integer(-3))
    (2*x*y, x*y, 3)
    """
    if isinstance(expr, sp.Mul) and expr.args[0].is_Number:
        coeff, *rest = expr.args
        if coeff is sp.S.NegativeOne:
            return rest[0] if len(rest) == 1 else sp.Mul._from_args(rest)
        return sp.Mul._from_args((-coeff, *rest))
    return -expr


def prune_unused(assignments: list[tuple[str, str]], uses: list[str]) -> list[tuple[str, str]]:
    """Drop assignments whose local is never read (linters flag them; they cost time).

    ``assignments`` are ``(name, printed expression)`` in order (each reads only earlier
    names); ``uses`` the printed texts that read them (the output writes). One backward
    sweep.

    Example
    -------
    >>> prune_unused([("c1", "u[1]^2"), ("c2", "-c1")], ["c1 + 1"])
    [('c1', 'u[1]^2')]
    """
    used = set(_WORD.findall("\n".join(uses)))
    kept = []
    for name, text in reversed(assignments):
        if name in used:
            kept.append((name, text))
            used.update(_WORD.findall(text))
    return kept[::-1]


class CodePrinter:
    """Base printer: subclasses set ``language``, ``functions``, ``power`` and float format."""

    language = ""
    #: SymPy head -> name in the target language: a column of the operation table (ops.py).
    functions: Mapping[str, str] = {}
    #: The power operator.
    power = "^"

    def __init__(
        self, names: Mapping[sp.Basic, str], temps: Mapping[sp.Basic, str] | None = None
    ) -> None:
        self.names = names
        self.temps = temps or {}
        self._dispatch: dict[type, Callable[[Any], tuple[str, int]]] = {}

    # -- entry points ---------------------------------------------------------------------
    def doprint(self, expr: sp.Basic) -> str:
        """``expr`` as target code; its common subexpressions print as their temporaries."""
        return self._print(expr)[0]

    def define(self, expr: sp.Basic) -> str:
        """The definition of a temporary: ``expr`` itself is not replaced by its own name."""
        return self._print_node(expr)[0]

    def unsupported(self, what: str) -> TraceError:
        return TraceError(
            f"cannot generate {self.language} code for {what}: it is not supported by the "
            "code generator (please report it, or build the problem with trace=False)"
        )

    # -- machinery ------------------------------------------------------------------------
    def _print(self, expr: sp.Basic) -> tuple[str, int]:
        name = self.names.get(expr) or self.temps.get(expr)
        if name is not None:
            return name, _ATOM
        return self._print_node(expr)

    def _print_node(self, expr: sp.Basic) -> tuple[str, int]:
        cls = type(expr)
        method = self._dispatch.get(cls)
        if method is None:
            for klass in cls.__mro__:
                found = getattr(self, f"_print_{klass.__name__}", None)
                if found is not None:
                    method = found
                    break
            else:
                raise self.unsupported(f"{cls.__name__} ({expr})")
            self._dispatch[cls] = method
        return method(expr)

    def _wrap(self, expr: sp.Basic, strength: int) -> str:
        text, prec = self._print(expr)
        return f"({text})" if prec < strength else text

    # -- atoms ----------------------------------------------------------------------------
    def _print_Symbol(self, expr: sp.Symbol) -> tuple[str, int]:
        # The tracer only makes symbols named like u_0, p_3, x12, t; anything else would be
        # pasted into the source as it is.
        if not _SYMBOL_NAME.fullmatch(expr.name):
            raise self.unsupported(f"the symbol {expr.name!r}")
        return expr.name, _ATOM

    def _print_Integer(self, expr: sp.Integer) -> tuple[str, int]:
        return str(expr.p), (_NEG if expr.p < 0 else _ATOM)

    def _print_Rational(self, expr: sp.Rational) -> tuple[str, int]:
        # Both targets read a/b of two integer literals as a float division.
        return f"{expr.p}/{expr.q}", _MUL

    def _print_Float(self, expr: sp.Float) -> tuple[str, int]:
        value = float(expr)
        return self.format_float(value), (_NEG if value < 0 else _ATOM)

    def format_float(self, value: float) -> str:
        raise NotImplementedError

    def _print_Pi(self, expr: Any) -> tuple[str, int]:
        return self.format_float(float(expr)), _ATOM

    _print_Exp1 = _print_Pi

    # -- arithmetic -----------------------------------------------------------------------
    def _print_Add(self, expr: sp.Add) -> tuple[str, int]:
        out = ""
        for i, term in enumerate(expr.args):
            coeff, _ = term.as_coeff_Mul()
            if coeff.is_negative and i > 0:
                text = self._wrap(negate(term), _MUL)  # a - b*c; a - (b + c) never arises
                out += f" - {text}"
            elif i > 0:
                out += f" + {self._wrap(term, _ADD + 1)}"
            else:
                out = self._wrap(term, _ADD)
        return out, _ADD

    def _print_Mul(self, expr: sp.Mul) -> tuple[str, int]:
        coeff, rest = expr.as_coeff_Mul()
        if coeff.is_negative:
            return f"-{self._wrap(negate(expr), _MUL)}", _NEG
        num: list[str] = []
        den: list[str] = []
        if isinstance(coeff, sp.Rational) and not coeff.is_Integer:
            if coeff.p != 1:
                num.append(str(coeff.p))
            den.append(str(coeff.q))
        elif coeff != 1:
            num.append(self._wrap(coeff, _MUL))
        for factor in sp.Mul.make_args(rest):
            if (
                isinstance(factor, sp.Pow)
                and factor.exp.is_Number
                and factor.exp.is_negative
                and factor not in self.temps
            ):
                den.append(self._wrap(sp.Pow(factor.base, -factor.exp), _POW))
            else:
                num.append(self._wrap(factor, _MUL))
        text = "*".join(num) if num else "1"
        if den:
            below = den[0] if len(den) == 1 else f"({'*'.join(den)})"
            text = f"{text}/{below}"
        return text, _MUL

    def _print_Pow(self, expr: sp.Pow) -> tuple[str, int]:
        base, exp = expr.args
        if exp is sp.S.Half:
            return f"{self.call_name('sqrt', (base,))}({self.doprint(base)})", _ATOM
        if exp is sp.S.NegativeOne:
            return f"1/{self._wrap(base, _POW)}", _MUL
        if -exp is sp.S.Half:
            return f"1/{self.call_name('sqrt', (base,))}({self.doprint(base)})", _MUL
        if exp.is_Integer:
            text = str(exp.p) if exp.p >= 0 else f"({exp.p})"
            return f"{self._wrap(base, _POW + 1)}{self.power}{text}", _POW
        return self.real_power(base, exp)

    def real_power(self, base: sp.Expr, exp: sp.Expr) -> tuple[str, int]:
        return f"{self._wrap(base, _POW + 1)}{self.power}{self._wrap(exp, _POW + 1)}", _POW

    # -- functions and conditions ----------------------------------------------------------
    def function_name(self, name: str) -> str:
        try:
            return self.functions[name]
        except KeyError:
            raise self.unsupported(f"the function {name}") from None

    def call_name(self, head: str, args: tuple[sp.Basic, ...]) -> str:
        """The name to call for ``head(*args)`` (a printer may pick by the arguments)."""
        return self.function_name(head)

    def _print_Function(self, expr: Any) -> tuple[str, int]:
        name = self.call_name(type(expr).__name__, expr.args)
        return f"{name}({', '.join(self.doprint(a) for a in expr.args)})", _ATOM

    def _print_Relational(self, expr: Any) -> tuple[str, int]:
        op = expr.rel_op
        if op not in ("==", "!=", ">", "<", ">=", "<="):
            raise self.unsupported(f"the relation {op}")
        lhs, rhs = self._wrap(expr.lhs, _ADD), self._wrap(expr.rhs, _ADD)
        return f"{lhs} {op} {rhs}", _RELATIONAL

    def _print_Not(self, expr: Any) -> tuple[str, int]:
        return f"{self.function_name('Not')}({self.doprint(expr.args[0])})", _ATOM

    def _print_And(self, expr: Any) -> tuple[str, int]:
        return " & ".join(f"({self.doprint(a)})" for a in expr.args), _RELATIONAL

    def _print_Or(self, expr: Any) -> tuple[str, int]:
        return " | ".join(f"({self.doprint(a)})" for a in expr.args), _RELATIONAL

    def _print_Piecewise(self, expr: sp.Piecewise) -> tuple[str, int]:
        *pieces, (last, last_cond) = expr.args
        if last_cond is not sp.true:
            raise self.unsupported(f"a Piecewise without a default ({expr})")
        text = self.doprint(last)
        select = self.function_name("Piecewise")
        for value, cond in reversed(pieces):
            text = f"{select}({self.doprint(cond)}, {self.doprint(value)}, {text})"
        return text, _ATOM
