"""Switches in a traced right-hand side, and when they make a gradient wrong.

A switch is a NumPy call that picks between branches by a traced value: ``np.where``,
``np.sign`` (they may **jump**), ``np.abs``, ``np.maximum``, ``np.minimum``, ``np.clip``
(continuous **kinks**). The tape records each with the user's line (``Tape.note_switch``).

Why it matters: gradients of a solve come from the variational equations of f, which see
only the branch in force at each instant. When the trajectory crosses a switching surface
g(u, p, t) = 0, the sensitivities also jump, by an amount proportional to the jump of f
across the surface (the saltation matrix). So:

* a switch on ``t`` against constants (``np.where(t < 1.0, ...)``) is fine: the surface
  does not move with u0 or p;
* a **kink** (f continuous across the surface) is fine: the jump of f, and so the
  correction, is zero (for a crossing, not a sliding along the surface);
* a **jump** whose condition depends on u or p (``np.where(x > 0.5, -k*x, -0.1*k*x)``,
  ``np.where(t < p[0], 1, 0)``) makes ``vjp`` wrong whenever the trajectory crosses it;
  the gradient must include the crossing as an event. The reference engine does so
  (``bridge/_trace/events.py`` ``switch_events``, docs/events.md) for right-hand sides traced
  as scalar code; elsewhere (other engines, array-traced models) ``bridge.vjp`` warns
  (``GradientWarning``) naming the line.

A ``np.where`` whose branches agree on the surface (``np.where(x > 0, x, 0)``) is a kink;
``may_jump`` proves that for simple conditions and assumes a jump otherwise.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence

import sympy as sp

from .._errors import GradientWarning
from .tape import Switch

#: Larger expressions are not analysed (sp.cancel is not linear): assumed to jump.
_MAX_OPS = 60


def may_jump(cond: sp.Basic, a: sp.Basic, b: sp.Basic) -> bool:
    """False when ``where(cond, a, b)`` is provably continuous across ``cond``'s surface.

    Example
    -------
    >>> x, k = sp.symbols("x k", real=True)
    >>> may_jump(x > 0, x, sp.S.Zero), may_jump(x > 0.5, -k * x, -0.1 * k * x)
    (False, True)
    """
    if a == b:
        return False
    if not isinstance(cond, (sp.Gt, sp.Ge, sp.Lt, sp.Le)):
        return True
    surface, gap = cond.lhs - cond.rhs, a - b
    if sp.count_ops(surface) + sp.count_ops(gap) > _MAX_OPS:
        return True
    # a - b = q * surface with q free of poles: a and b agree where the surface is 0.
    _, denominator = sp.fraction(sp.cancel(gap / surface))
    return bool(denominator.free_symbols)


def state_dependent(
    switches: Iterable[Switch],
    assignments: Sequence[tuple[sp.Symbol, sp.Basic]],
    inputs: Iterable[sp.Symbol],
) -> tuple[Switch, ...]:
    """The switches whose conditions depend on ``inputs`` (u and p), through the tape."""
    switches = list(switches)
    if not switches:
        return ()
    depends = set(inputs)
    for sym, expr in assignments:
        if not depends.isdisjoint(expr.free_symbols):
            depends.add(sym)
    return tuple(
        s for s in switches if any(not depends.isdisjoint(c.free_symbols) for c in s.conditions)
    )


def jump_warning(name: str, switches: Sequence[Switch], engine: str | None = None) -> str | None:
    """The GradientWarning text for the jumping switches of a model, or None.

    ``engine`` names the engine that cannot treat the switches as events.

    Example
    -------
    >>> s = Switch("np.where", "rhs.py, line 3, in f: `...`", (sp.Symbol("u_0") > 0,), True)
    >>> print(jump_warning("f", [s]))  # doctest: +ELLIPSIS
    right-hand side 'f' switches on the state or the parameters (np.where at rhs.py, line 3, ...
    """
    jumps = [s for s in switches if s.jumps]
    if not jumps:
        return None
    where = "; ".join(s.describe() for s in jumps)
    who = f"the {engine} engine" if engine else "this engine"
    return (
        f"right-hand side {name!r} switches on the state or the parameters ({where}): the "
        "gradient is wrong if the trajectory crosses the switching surface, because the "
        f"jump of the sensitivities there is not included: {who} does not treat switching "
        "surfaces as events for this model (the reference engine does, for right-hand "
        "sides traced as scalar code: backend='reference'). Switches on t against "
        "constants, and continuous ones (np.maximum, np.minimum, np.clip, np.abs, or "
        "np.where with branches that agree at the switch), are differentiated correctly"
    )


def warn_if_jumps(model: object, stacklevel: int = 2, engine: str | None = None) -> None:
    """Warn (``GradientWarning``) when ``model`` has jumping switches on u or p."""
    text = jump_warning(getattr(model, "name", "rhs"), getattr(model, "switches", ()), engine)
    if text is not None:
        warnings.warn(text, GradientWarning, stacklevel=stacklevel + 1)


__all__ = ["jump_warning", "may_jump", "state_dependent", "warn_if_jumps"]
