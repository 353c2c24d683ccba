"""``math.exp(x)`` on a traced value: run the user's function with a traced ``math``.

``math.exp`` converts its argument with ``__float__`` and must return a float, so no method on
the traced type can make it build an expression. Instead the tracer calls a copy of the user's
function whose globals map ``math`` (and names imported from it, ``from math import exp``) to
this shim: traced arguments go to the NumPy equivalent, numbers to the real ``math``. The
user's module is not touched. Helpers called from the function keep the real ``math``; for
them ``SymArray.__float__`` raises a TraceError that suggests ``np.exp``.
"""

from __future__ import annotations

import math
import types
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .ops import MATH
from .symarray import SymArray

# math name -> the NumPy ufunc traced for it (``log`` takes a base: see _traced_log).
_NUMPY_EQUIVALENT = {
    name: getattr(np, op.numpy[0])
    for name, op in MATH.items()
    if name != "log" and hasattr(math, name)
}


def _traced_log(x: Any, base: Any = None) -> Any:
    if base is None:
        return np.log(x) if isinstance(x, SymArray) else math.log(x)
    if isinstance(x, SymArray) or isinstance(base, SymArray):
        return np.log(x) / np.log(base)
    return math.log(x, base)


def _shimmed(name: str, real: Callable[..., Any], traced: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        if any(isinstance(a, SymArray) for a in args):
            return traced(*args)
        return real(*args)

    call.__name__ = name
    return call


def _build_shim() -> types.SimpleNamespace:
    attrs = {k: getattr(math, k) for k in dir(math) if not k.startswith("_")}
    for name, np_func in _NUMPY_EQUIVALENT.items():
        attrs[name] = _shimmed(name, getattr(math, name), np_func)
    attrs["log"] = _traced_log
    return types.SimpleNamespace(**attrs)


MATH_SHIM = _build_shim()
_BY_ORIGINAL = {id(getattr(math, name)): getattr(MATH_SHIM, name) for name in _NUMPY_EQUIVALENT}
_BY_ORIGINAL[id(math.log)] = _traced_log


def _global_names(code: types.CodeType) -> Iterator[str]:
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):  # comprehensions, lambdas, nested defs
            yield from _global_names(const)


def with_math_shim(func: Callable[..., Any]) -> Callable[..., Any]:
    """``func``, or a copy of it whose ``math`` names are traced (see module docstring).

    Example
    -------
    >>> def f(u, p, t):
    ...     return [math.exp(u[0])]
    >>> with_math_shim(f).__globals__["math"] is MATH_SHIM
    True
    """
    if not isinstance(func, types.FunctionType):
        return func
    globs = func.__globals__
    replace: dict[str, Any] = {}
    for name in set(_global_names(func.__code__)):
        value = globs.get(name)
        if value is math:
            replace[name] = MATH_SHIM
        elif id(value) in _BY_ORIGINAL and callable(value):
            replace[name] = _BY_ORIGINAL[id(value)]
    if not replace:
        return func
    new_globals = {**globs, **replace}
    copy = types.FunctionType(
        func.__code__, new_globals, func.__name__, func.__defaults__, func.__closure__
    )
    copy.__kwdefaults__ = func.__kwdefaults__
    return copy
