"""Jacobians by the chain rule over the tape's intermediates (forward accumulation).

Differentiating the expanded outputs is what made the naive approach slow (4.4 s for a
2→50→2 MLP): every entry re-derives the whole network. Here each intermediate
``x_k = e_k(...)`` is differentiated once, locally, with respect to the symbols it uses
directly; its gradient with respect to the inputs is the sparse sum of those local partials
times the gradients of the symbols it uses. Local partials of sums and products are taken term
by term (a matrix-product row is linear), and one-argument functions by ``fdiff`` and the
chain rule, so SymPy's ``diff`` only ever sees small expressions. Derivatives are left in
terms of the intermediates (``1 - x3**2`` for ``x3 = tanh(...)``), which the code generators
compute anyway.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

import sympy as sp
from sympy.core.mul import _unevaluated_Mul

Grad = dict[sp.Symbol, sp.Expr]


def product(a: sp.Expr, b: sp.Expr) -> sp.Expr:
    """``a*b``, skipping ``Mul.flatten`` when no factor can combine with another.

    The chain rule multiplies a local partial into every entry of a gradient, and SymPy's
    general product was most of the derivative time. When the factors share no base (so no
    powers merge) and neither side is a number next to a sum (so nothing distributes), the
    product is just the sorted union of the factors, which is what ``_unevaluated_Mul``
    builds, in SymPy's canonical order.

    Example
    -------
    >>> x, y, z = sp.symbols("x y z")
    >>> product(2 * x, y * z), product(x, x * y), product(sp.S.Zero, x)
    (2*x*y*z, x**2*y, 0)
    """
    if a.is_Number or b.is_Number:
        return a * b
    fa, fb = sp.Mul.make_args(a), sp.Mul.make_args(b)
    bases = {f.as_base_exp()[0] for f in fa}
    if any(f.as_base_exp()[0] in bases for f in fb):
        return a * b
    return _unevaluated_Mul(*fa, *fb)


def _merge(into: dict[sp.Symbol, list[sp.Expr]], grad: Grad, factor: sp.Expr) -> None:
    # Skip multiplications by one: building SymPy products is most of the cost here.
    for s, d in grad.items():
        if factor is sp.S.One:
            into[s].append(d)
        elif d is sp.S.One:
            into[s].append(factor)
        else:
            into[s].append(product(factor, d))


def _collect(terms: dict[sp.Symbol, list[sp.Expr]]) -> Grad:
    out: Grad = {}
    for s, parts in terms.items():
        total = sp.Add(*parts)
        if total != 0:
            out[s] = total
    return out


def local_partials(expr: sp.Expr) -> Grad:
    """``{s: ∂expr/∂s}`` for every symbol ``s`` in ``expr``, exploiting sums and products.

    Example
    -------
    >>> x, y = sp.symbols("x y")
    >>> local_partials(x * y + sp.tanh(x))
    {x: y - tanh(x)**2 + 1, y: x}
    """
    if isinstance(expr, sp.Symbol):
        return {expr: sp.S.One}
    if not expr.free_symbols:
        return {}
    terms: dict[sp.Symbol, list[sp.Expr]] = defaultdict(list)
    if isinstance(expr, sp.Add):
        for arg in expr.args:
            _merge(terms, local_partials(arg), sp.S.One)
    elif isinstance(expr, sp.Mul):
        args = expr.args
        for i, arg in enumerate(args):
            if arg.free_symbols:
                others = args[:i] + args[i + 1 :]  # still in canonical order
                rest = others[0] if len(others) == 1 else sp.Mul._from_args(others)
                _merge(terms, local_partials(arg), rest)
    elif isinstance(expr, sp.Pow) and not expr.exp.free_symbols:
        base, exp = expr.args
        _merge(terms, local_partials(base), exp * base ** (exp - 1))
    elif isinstance(expr, sp.Function) and len(expr.args) == 1:
        _merge(terms, local_partials(expr.args[0]), expr.fdiff(1))
    else:
        for s in sorted(expr.free_symbols, key=sp.default_sort_key):
            terms[s].append(expr.diff(s))
    return _collect(terms)


def input_gradients(
    assignments: Iterable[tuple[sp.Symbol, sp.Expr]],
    outputs: Iterable[sp.Expr],
    inputs: Sequence[sp.Symbol],
) -> list[Grad]:
    """For each output, its sparse gradient ``{input: derivative}`` over ``inputs``.

    Symbols not in ``inputs`` and not assigned (e.g. ``t``) are constants here.

    Example
    -------
    >>> x, a, z = sp.symbols("x a z")
    >>> input_gradients([(z, sp.exp(a * x))], [z + x], [x, a])
    [{x: a*z + 1, a: x*z}]
    """
    wanted = set(inputs)
    grads: dict[sp.Symbol, Grad] = {}

    def gradient(expr: sp.Expr, own: tuple[sp.Expr, sp.Symbol] | None) -> Grad:
        terms: dict[sp.Symbol, list[sp.Expr]] = defaultdict(list)
        for s, d in local_partials(expr).items():
            if own is not None:
                d = d.xreplace({own[0]: own[1]})  # exp(y)' = exp(y): say x_k, not exp(y)
            if s in wanted:
                terms[s].append(d)
            elif s in grads:
                _merge(terms, grads[s], d)
        return _collect(terms)

    for sym, expr in assignments:
        grads[sym] = gradient(expr, (expr, sym))
    order = {s: i for i, s in enumerate(inputs)}
    result = []
    for out in outputs:
        g = gradient(out, None)
        result.append(dict(sorted(g.items(), key=lambda kv: order[kv[0]])))
    return result
