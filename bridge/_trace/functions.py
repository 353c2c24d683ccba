"""SymPy functions for NumPy operations SymPy lacks or differentiates unhelpfully.

``np.sign``, ``np.minimum``, ``np.maximum`` and ``np.clip`` become these classes rather
than SymPy's ``sign``/``Min``/``Max``: SymPy's versions simplify eagerly, differentiate to
``DiracDelta``/``Heaviside`` (which no backend can evaluate), and print poorly. Ours have
the almost-everywhere derivatives an ODE solver wants, written as ``Piecewise``, which the
printers turn into ``ifelse``/``where``.
"""

from __future__ import annotations

import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p

__all__ = ["Clip", "Maximum", "Minimum", "Sign", "expm1", "log1p"]


def _step(cond: sp.Basic) -> sp.Expr:
    """1 where ``cond`` holds, else 0."""
    return sp.Piecewise((sp.S.One, cond), (sp.S.Zero, True))


class Sign(sp.Function):
    """``np.sign``: -1, 0 or 1, with derivative 0 (not SymPy's ``2*DiracDelta``)."""

    nargs = 1

    @classmethod
    def eval(cls, x: sp.Expr) -> sp.Expr | None:
        if x.is_Number:
            return sp.sign(x)
        return None

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return sp.S.Zero


class Minimum(sp.Function):
    """``np.minimum(a, b)``; the derivative goes to ``a`` where ``a <= b``."""

    nargs = 2

    @classmethod
    def eval(cls, a: sp.Expr, b: sp.Expr) -> sp.Expr | None:
        if a.is_Number and b.is_Number:
            return a if a <= b else b
        if a == b:
            return a
        return None

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        a, b = self.args
        first = _step(sp.Le(a, b))
        return first if argindex == 1 else 1 - first


class Maximum(sp.Function):
    """``np.maximum(a, b)``; the derivative goes to ``a`` where ``a >= b``."""

    nargs = 2

    @classmethod
    def eval(cls, a: sp.Expr, b: sp.Expr) -> sp.Expr | None:
        if a.is_Number and b.is_Number:
            return a if a >= b else b
        if a == b:
            return a
        return None

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        a, b = self.args
        first = _step(sp.Ge(a, b))
        return first if argindex == 1 else 1 - first


class Clip(sp.Function):
    """``np.clip(x, lo, hi)`` (Julia's ``clamp``); each argument's derivative where it wins."""

    nargs = 3

    @classmethod
    def eval(cls, x: sp.Expr, lo: sp.Expr, hi: sp.Expr) -> sp.Expr | None:
        if x.is_Number and lo.is_Number and hi.is_Number:
            return min(max(x, lo), hi)
        return None

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        x, lo, hi = self.args
        below, above = sp.Lt(x, lo), sp.Gt(x, hi)
        if argindex == 1:
            return sp.Piecewise((sp.S.Zero, below), (sp.S.Zero, above), (sp.S.One, True))
        if argindex == 2:
            return _step(below)
        return sp.Piecewise((sp.S.Zero, below), (sp.S.One, above), (sp.S.Zero, True))
