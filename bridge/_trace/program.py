"""Straight-line programs for f, the Jacobians and the VJPs, shared by both code generators.

Each program is a list of scalar assignments (the tape intermediates its outputs need, and
common subexpressions), then one write per output entry. Sparse programs (the Jacobians)
write only non-zero entries after zero-filling.

Common subexpression elimination is done here rather than with ``sympy.cse``: SymPy's
version rebuilds every expression and searches sums and products for shared argument
subsets, which took over a second for a 2→50→2 MLP. This one counts repeated subtrees over
the DAG in one pass and hands the printers a subexpression -> temporary-name table, so
nothing is rebuilt.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import sympy as sp
from sympy.logic.boolalg import Boolean

from .derivatives import Grad, input_gradients, product
from .printer import negate
from .tracer import Trace

Index = tuple[int, ...]


@dataclass(frozen=True)
class Program:
    """One generated function ``<name>!(<out>, <args>...)`` (Julia) / ``<name>(<args>...)``.

    ``assignments`` are ``(local name, expression)`` in order; an expression that is also a
    key of ``temps`` is a common subexpression and prints as its definition.
    """

    name: str
    out: str
    args: tuple[str, ...]
    inputs: Mapping[str, tuple[sp.Symbol, ...]]
    shape: tuple[int, ...]
    assignments: tuple[tuple[str, sp.Basic], ...]
    entries: tuple[tuple[Index, sp.Basic], ...]
    dense: bool
    temps: Mapping[sp.Basic, str] = field(default_factory=dict)


def _needed(
    assignments: Sequence[tuple[sp.Symbol, sp.Expr]], exprs: Sequence[sp.Basic]
) -> list[tuple[sp.Symbol, sp.Expr]]:
    """The tape assignments that ``exprs`` depend on, in tape order.

    One walk over the expression DAG, each node once: ``free_symbols`` walks every path
    through shared subexpressions, which for a deep network's derivatives is exponential
    in the depth (it was most of the time for a 4-layer MLP).
    """
    index = {sym: i for i, (sym, _) in enumerate(assignments)}
    keep = [False] * len(assignments)
    seen: set[sp.Basic] = set()
    stack = list(exprs)
    while stack:
        e = stack.pop()
        if e in seen:
            continue
        seen.add(e)
        if e.is_Symbol:
            i = index.get(e)
            if i is not None and not keep[i]:
                keep[i] = True
                stack.append(assignments[i][1])
        else:
            stack.extend(e.args)
    return [a for a, k in zip(assignments, keep, strict=True) if k]


def _trivial(expr: sp.Basic) -> bool:
    if expr.is_Atom or not isinstance(expr, (sp.Expr, Boolean)):
        return True  # e.g. Piecewise's (value, condition) pairs are not values
    # -x is cheaper to recompute than to name.
    return isinstance(expr, sp.Mul) and len(expr.args) == 2 and expr.args[0] is sp.S.NegativeOne


def _as_printed(e: sp.Basic) -> sp.Basic:
    """The node a printer prints for ``e``: ``-a*b`` prints as ``-`` then ``a*b``."""
    if isinstance(e, sp.Mul) and e.args[0].is_Number and e.args[0].is_negative:
        return negate(e)
    return e


def _count(roots: Sequence[sp.Basic]) -> dict[sp.Basic, int]:
    counts: dict[sp.Basic, int] = {}

    def visit(e: sp.Basic) -> None:
        if e.is_Atom:
            return
        e = _as_printed(e)
        if e in counts:
            counts[e] += 1
            return
        counts[e] = 1
        for a in e.args:
            visit(a)

    for r in roots:
        visit(r)
    return counts


def _schedule(
    tape: Sequence[tuple[sp.Symbol, sp.Expr]], exprs: Sequence[sp.Basic]
) -> tuple[list[tuple[str, sp.Basic]], dict[sp.Basic, str]]:
    """Assignments (tape and temporaries, dependencies first) and the temporaries' names."""
    roots = [e for _, e in tape] + list(exprs)
    counts = _count(roots)
    temps: dict[sp.Basic, str] = {}
    order: list[tuple[str, sp.Basic]] = []
    done: set[sp.Basic] = set()

    def visit(e: sp.Basic) -> None:
        if e.is_Atom:
            return
        e = _as_printed(e)
        if e in done:
            return
        done.add(e)
        for a in e.args:
            visit(a)
        if counts.get(e, 0) > 1 and not _trivial(e):
            temps[e] = f"c{len(temps) + 1}"
            order.append((temps[e], e))

    for sym, e in tape:
        for a in e.args:
            visit(a)
        order.append((sym.name, e))
    for e in exprs:
        visit(e)
    return order, temps


def _program(
    name: str,
    out: str,
    args: tuple[str, ...],
    inputs: Mapping[str, tuple[sp.Symbol, ...]],
    shape: tuple[int, ...],
    entries: list[tuple[Index, sp.Basic]],
    dense: bool,
    tape: Sequence[tuple[sp.Symbol, sp.Expr]],
) -> Program:
    exprs = [e for _, e in entries]
    order, temps = _schedule(_needed(tape, exprs), exprs)
    return Program(name, out, args, inputs, shape, tuple(order), tuple(entries), dense, temps)


def _vjp(grads: list[Grad], wrt: Sequence[sp.Symbol], v: Sequence[sp.Symbol]) -> list[sp.Expr]:
    """``out[k] = Σ_j v_j ∂f_j/∂wrt_k`` from the sparse gradients of the outputs."""
    terms: dict[sp.Symbol, list[sp.Expr]] = {s: [] for s in wrt}
    for vj, grad in zip(v, grads, strict=True):
        for s, d in grad.items():
            terms[s].append(product(vj, d))
    return [sp.Add(*terms[s]) for s in wrt]


def build_programs(trace: Trace) -> list[Program]:
    """The five programs f, jac, paramjac, vjp, vjp_p of a trace.

    Example
    -------
    >>> from bridge._trace.tracer import trace
    >>> [p.name for p in build_programs(trace(lambda u, p, t: -p[0] * u, 1, 1))]
    ['f', 'jac', 'paramjac', 'vjp', 'vjp_p']
    """
    n, m = len(trace.u), len(trace.p)
    v = tuple(sp.Symbol(f"v_{i}", real=True) for i in range(n))
    base = {"u": trace.u, "p": trace.p}
    with_v = {"v": v, **base}
    uargs, vargs = ("u", "p", "t"), ("v", "u", "p", "t")
    tape = trace.assignments
    # One forward sweep for both Jacobians; split each sparse gradient by input kind.
    grads = input_gradients(tape, trace.outputs, (*trace.u, *trace.p))
    u_index = {s: k for k, s in enumerate(trace.u)}
    p_index = {s: k for k, s in enumerate(trace.p)}
    state_grads = [{s: d for s, d in g.items() if s in u_index} for g in grads]
    param_grads = [{s: d for s, d in g.items() if s in p_index} for g in grads]
    f_entries: list[tuple[Index, sp.Basic]] = [((i,), e) for i, e in enumerate(trace.outputs)]
    jac_entries: list[tuple[Index, sp.Basic]] = [
        ((i, u_index[s]), d) for i, g in enumerate(state_grads) for s, d in g.items()
    ]
    pj_entries: list[tuple[Index, sp.Basic]] = [
        ((i, p_index[s]), d) for i, g in enumerate(param_grads) for s, d in g.items()
    ]
    vjp_u: list[tuple[Index, sp.Basic]] = [
        ((k,), e) for k, e in enumerate(_vjp(state_grads, trace.u, v))
    ]
    vjp_p: list[tuple[Index, sp.Basic]] = [
        ((k,), e) for k, e in enumerate(_vjp(param_grads, trace.p, v))
    ]
    return [
        _program("f", "du", uargs, base, (n,), f_entries, True, tape),
        _program("jac", "J", uargs, base, (n, n), jac_entries, False, tape),
        _program("paramjac", "pJ", uargs, base, (n, m), pj_entries, False, tape),
        _program("vjp", "out", vargs, with_v, (n,), vjp_u, True, tape),
        _program("vjp_p", "out", vargs, with_v, (m,), vjp_p, True, tape),
    ]
