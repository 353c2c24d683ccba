"""Call the user's ``f(u, p, t)`` once with symbols and collect a straight-line program."""

from __future__ import annotations

import inspect
import linecache
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from .._errors import TraceError
from .arrayfuncs import scalar
from .mathshim import with_math_shim
from .switches import state_dependent
from .symarray import SymArray, to_objects
from .tape import Switch, Tape, _message, traceback_location

_BAD_CONSTANTS = (sp.S.NaN, sp.S.ComplexInfinity, sp.S.Infinity, sp.S.NegativeInfinity)


@dataclass(frozen=True)
class Trace:
    """What tracing produced: inputs, named intermediates in order, and the outputs."""

    name: str
    u: tuple[sp.Symbol, ...]
    p: tuple[sp.Symbol, ...]
    t: sp.Symbol
    assignments: tuple[tuple[sp.Symbol, sp.Expr], ...]
    outputs: tuple[sp.Expr, ...]
    #: True when the function only did scalar arithmetic (no NumPy call on an array).
    scalar_style: bool = False
    #: Switches whose condition depends on u or p (see switches.py).
    switches: tuple[Switch, ...] = ()


def _symbols(prefix: str, n: int) -> tuple[sp.Symbol, ...]:
    return tuple(sp.Symbol(f"{prefix}_{i}", real=True) for i in range(n))


def _param_argument(
    p: tuple[sp.Symbol, ...], spec: Mapping[str, tuple[int, ...]] | None, tape: Tape
) -> Any:
    if spec is None:
        return SymArray.of_symbols(p, tape, label="p")
    named: dict[str, SymArray] = {}
    start = 0
    for key, shape in spec.items():
        size = math.prod(shape)
        part = p[start : start + size]
        named[key] = SymArray.of_symbols(part, tape, shape=tuple(shape), label=f"p[{key!r}]")
        start += size
    return named


def trace(
    func: Callable[..., Any],
    n_states: int,
    n_params: int,
    param_spec: Mapping[str, tuple[int, ...]] | None = None,
    name: str = "rhs",
) -> Trace:
    """Trace ``func(u, p, t)`` into a ``Trace``.

    Example
    -------
    >>> tr = trace(lambda u, p, t: [-p[0] * u[0]], 1, 1)
    >>> tr.outputs
    (-p_0*u_0,)
    """
    check_signature(func, name)
    u_syms, p_syms = _symbols("u", n_states), _symbols("p", n_params)
    t_sym = sp.Symbol("t", real=True)
    tape = Tape(name)
    tape.sizes = _sizes(n_states, n_params, param_spec)
    u = SymArray.of_symbols(u_syms, tape, label="u")
    p = _param_argument(p_syms, param_spec, tape)
    t = SymArray(scalar(t_sym), tape)
    out = call_traced(func, (u, p, t), tape)
    outputs = _outputs(out, n_states, tape)
    assignments = tuple(tape.assignments)
    switches = state_dependent(tape.switches, assignments, (*u_syms, *p_syms))
    return Trace(name, u_syms, p_syms, t_sym, assignments, outputs, tape.array_ops == 0, switches)


def _sizes(n_states: int, n_params: int, spec: Mapping[str, tuple[int, ...]] | None) -> str:
    states = f"u0 has {n_states} state{'s' if n_states != 1 else ''}"
    if spec is not None:
        return f"{states} and p has the names {list(spec)}"
    return f"{states} and p has {n_params} entr{'ies' if n_params != 1 else 'y'}"


_SCIPY_TIME_NAMES = ("t", "time", "tau")


def check_signature(
    func: Callable[..., Any], name: str, *, kind: str = "right-hand side", call: str = "f"
) -> None:
    """Refuse a right-hand side that cannot be called as ``f(u, p, t)``, or whose argument
    names say it expects SciPy's order ``f(t, y)``/``f(t, u, p)``. ``kind`` and ``call`` name
    what is checked in messages (an event's ``condition`` is called the same way).

    Example
    -------
    >>> check_signature(lambda t, y: -y, "decay")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    bridge._errors.TraceError: right-hand side 'decay' takes (t, y): that is SciPy's order...
    """
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):  # builtins and some C callables: nothing to check
        return
    positional = [
        q.name
        for q in sig.parameters.values()
        if q.kind in (q.POSITIONAL_ONLY, q.POSITIONAL_OR_KEYWORD)
    ]
    try:
        sig.bind(None, None, None)
        callable_as_upt = True
    except TypeError:
        callable_as_upt = False
    takes = f"takes ({', '.join(positional)})"
    if positional and positional[0] in _SCIPY_TIME_NAMES:
        raise TraceError(
            f"{kind} {name!r} {takes}: that is SciPy's order {call}(t, y, ...), but bridge "
            f"calls {call}(u, p, t) (state, parameters, time). Write it as def {name}(u, p, t)"
        )
    if not callable_as_upt:
        raise TraceError(
            f"{kind} {name!r} {takes}, but bridge calls {call}(u, p, t) with three "
            f"arguments (state, parameters, time; p may go unused). Write it as "
            f"def {name}(u, p, t)"
        )


def call_traced(func: Callable[..., Any], args: tuple[Any, ...], tape: Tape) -> Any:
    """``func(*args)`` on traced arrays, with failures explained (see ``_explain``).

    A TraceError (a limitation met on the way) passes as it is; the user's own ``raise``
    passes unchanged (with a note); anything else becomes a TraceError naming the line.
    """
    try:
        return with_math_shim(func)(*args)
    except TraceError:
        raise
    except Exception as exc:
        if _raised_by_user_code(exc):
            # The user's own `raise` (a bug or a deliberate check), not a tracing limitation:
            # let it surface unchanged, with its own type and traceback.
            if hasattr(exc, "add_note"):
                exc.add_note(
                    f"(raised while bridge was tracing {tape.func_name!r} with symbolic arrays)"
                )
            raise
        raise _explain(exc, tape) from exc


def _explain(exc: Exception, tape: Tape) -> TraceError:
    location = traceback_location(exc.__traceback__)
    text = str(exc)
    problem = f"calling it with traced arrays raised {type(exc).__name__}: {text}"
    hint = "Only NumPy-style array code can be traced; build the problem with trace=False otherwise"
    if "array element with a sequence" in text:
        hint = (
            "A traced value was written into a float array (np.empty/np.zeros): build "
            "the output with a list, np.array([...]) or np.zeros_like(u) instead"
        )
    elif "values to unpack" in text and tape.unpacked is not None:
        label, length = tape.unpacked
        wanted = re.search(r"expected (\d+)", text)
        count = wanted.group(1) if wanted else "another number of"
        given = "u0" if label == "u" else label
        problem = f"it unpacks {count} values from {label}, but {tape.sizes}"
        hint = f"Pass a {given} of the length the function expects, or unpack {length} values"
    elif isinstance(exc, KeyError) and "names" in tape.sizes:
        problem = f"it reads the parameter {text}, but {tape.sizes}"
        hint = ""
    return TraceError(_message(tape.kind, tape.func_name, problem, location, hint))


_LIBRARY_DIRS = (
    *(os.path.dirname(mod.__file__) + os.sep for mod in (np, sp) if mod.__file__),
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep,
)


def _raised_by_user_code(exc: BaseException) -> bool:
    """True when the user's own ``raise`` statement raised ``exc`` (not NumPy, SymPy, bridge).

    An operation that fails on traced values (writing into a float array, a library call)
    is a tracing limitation and becomes a TraceError with a hint; a deliberate ``raise`` in
    the user's code is the user's business and must surface unchanged.
    """
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    raw = tb.tb_frame.f_code.co_filename
    if raw.startswith("<") or os.path.abspath(raw).startswith(_LIBRARY_DIRS):
        return False
    line = linecache.getline(raw, tb.tb_lineno, tb.tb_frame.f_globals).strip()
    return line.startswith("raise")


def _outputs(out: Any, n_states: int, tape: Tape) -> tuple[sp.Expr, ...]:
    if out is None:
        raise tape.error(
            "it returned None",
            "Return du/dt (a list, tuple or array); bridge does not use in-place f!(du, u, p, t)",
            locate=False,
        )
    data = to_objects(out, tape)
    if data.ndim != 1:
        detail = f"an array of shape {data.shape}"
        if data.size == n_states:
            detail += f" (ravel it to shape ({n_states},))"
        raise tape.error(
            f"it returned {detail}, but u0 has {n_states} states: expected ({n_states},)",
            locate=False,
        )
    if data.shape[0] != n_states:
        raise tape.error(
            f"it returned {data.shape[0]} values, but u0 has {n_states} states: "
            f"the output must have length {n_states}",
            locate=False,
        )
    exprs = []
    for i, e in enumerate(data):
        if not isinstance(e, sp.Expr):
            raise tape.error(f"output {i} is {e} (a condition), not a number", locate=False)
        exprs.append(e)
    for sym, e in [*tape.assignments, *((None, e) for e in exprs)]:
        if e.has(*_BAD_CONSTANTS):
            where = f"intermediate {sym}" if sym is not None else "an output"
            raise tape.error(
                f"{where} evaluates to a NaN or infinite constant ({e}), e.g. a division by zero",
                locate=False,
            )
    return tuple(exprs)


__all__ = ["Trace", "trace"]
