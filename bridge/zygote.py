"""Zygote gradients of Julia code, from Python (Julia backend only).

``f`` is Julia source text that evaluates to a function (``"x -> sum(abs2, x)"``), loaded
once per distinct text, or a Julia function object obtained through juliacall. Arguments
are real numbers or real arrays (copied once into Julia arrays); results come back as
NumPy arrays viewing Julia memory (Julia's index order, so a matrix argument's gradient
has the argument's shape) and floats.

Example
-------
>>> import numpy as np, bridge.zygote
>>> bridge.zygote.gradient("x -> sum(abs2, x)", np.arange(3.0))  # doctest: +SKIP
(array([0., 2., 4.]),)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import _julia
from ._backend import choose_backend
from ._errors import BridgeTypeError, BridgeValueError, JuliaUnavailableError
from ._julia.arrays import array_from_julia, for_julia, is_juliacall_object
from ._julia.backend import function_key

__all__ = ["gradient", "pullback"]


def _check_function(f: Any) -> Any:
    if isinstance(f, str):
        if not f.strip():
            raise BridgeValueError(
                "f is an empty string; give Julia code such as 'x -> sum(abs2, x)'"
            )
        return f
    if is_juliacall_object(f):
        return f
    kind = "a Python function" if callable(f) else f"a {type(f).__name__}"
    raise BridgeTypeError(
        f"f must be Julia source text such as 'x -> sum(abs2, x)' or a Julia function from "
        f"juliacall, got {kind}: Zygote differentiates Julia code only (for Python code use "
        "bridge.torch or bridge.jax)"
    )


def _check_arg(x: Any, i: int) -> Any:
    if is_juliacall_object(x):
        return x
    if isinstance(x, (bool, np.bool_)):
        raise BridgeTypeError(f"argument {i} is a boolean; Zygote differentiates real numbers")
    if isinstance(x, (int, float, np.integer, np.floating)):
        return float(x)
    try:
        arr = np.asarray(x)
    except Exception as exc:
        raise BridgeTypeError(f"argument {i} could not be read as an array: {exc}") from exc
    if arr.dtype.kind not in "fiu":
        raise BridgeTypeError(
            f"argument {i} must be a real number or an array of real numbers, got dtype {arr.dtype}"
        )
    return for_julia(arr)


def _require_julia(backend: str | None) -> None:
    choice = choose_backend(backend, warn=False)  # a named but missing Julia raises here
    if choice.name == "julia":
        return
    if choice.requested != "auto":
        raise JuliaUnavailableError(
            f"bridge.zygote runs Zygote.jl, so it needs the Julia backend; "
            f"backend={choice.name!r} has no Zygote. Use backend='julia' (or 'auto' with "
            "Julia installed)."
        )
    why = dict(choice.skipped).get("julia", "Julia is not available")
    raise JuliaUnavailableError(
        f"bridge.zygote needs Julia, but {why}. To fix: {_julia.INSTALL_HINT}."
    )


def _call(entry: str, f: Any, args: tuple[Any, ...]) -> Any:
    if isinstance(f, str):
        return _julia.call(f"{entry}_source", function_key(f), f, *args)
    return _julia.call(entry, f, *args)


def gradient(f: Any, *args: Any, backend: str | None = None) -> tuple[Any, ...]:
    """``Zygote.gradient(f, args...)``: one gradient per argument, as NumPy arrays / floats.

    Parameters
    ----------
    f : str or Julia function
        Julia source evaluating to a function returning a real number, or a juliacall
        Julia function.
    *args : float or array_like
        Real numbers or real arrays (any shape); other Julia objects pass through as is.
    backend : {"auto", "julia"}, optional
        ``"reference"`` is refused: there is no Zygote without Julia.

    Returns
    -------
    tuple
        Zeros (not None) where ``f`` does not depend on an argument.

    Raises
    ------
    JuliaUnavailableError
        Without a usable Julia installation.
    JuliaError
        When Julia fails, e.g. ``f`` returns an array (use ``pullback``).

    Example
    -------
    >>> gradient("(x, a) -> a * sum(abs2, x)", np.array([1.0, 2.0]), 3.0)  # doctest: +SKIP
    (array([ 6., 12.]), 5.0)
    """
    func = _check_function(f)
    jargs = tuple(_check_arg(x, i) for i, x in enumerate(args))
    _require_julia(backend)
    return tuple(array_from_julia(g) for g in _call("zygote_gradient", func, jargs))


def pullback(
    f: Any, *args: Any, backend: str | None = None
) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
    """``Zygote.pullback(f, args...)``: the value, and ``back(ybar)`` giving one gradient
    per argument.

    ``f`` may return an array; ``ybar`` has its shape. Arguments as in ``gradient``.

    Example
    -------
    >>> y, back = pullback("x -> 3 .* x", np.array([1.0, 2.0]))  # doctest: +SKIP
    >>> y, back(np.ones(2))  # doctest: +SKIP
    (array([3., 6.]), (array([3., 3.]),))
    """
    func = _check_function(f)
    jargs = tuple(_check_arg(x, i) for i, x in enumerate(args))
    _require_julia(backend)
    value, handle = _call("zygote_pullback", func, jargs)

    def back(ybar: Any) -> tuple[Any, ...]:
        grads = _julia.call("zygote_back", handle, _check_arg(ybar, 0))
        return tuple(array_from_julia(g) for g in grads)

    return array_from_julia(value), back
