"""Julia exceptions as bridge errors: the one place they are translated.

``session.call`` hands every exception raised by a call into Julia to ``translate_exception``
(with the lock held, because asking Julia for the exception's type and text enters Julia).
Nothing here imports juliacall: its exception type is recognised by name and module
(``arrays.is_juliacall_object``), so all of it is tested without Julia.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .._errors import BridgeError, JuliaError
from .arrays import is_juliacall_object

_TYPE_PARAMS = re.compile(r"\{[^{}]*\}")
#: PythonCall's rendering of a MethodError on the called function itself.
_METHOD_ERROR_PREFIX = "Julia:"


def short_julia_message(text: str, limit: int = 400) -> str:
    """Strip type-parameter walls and backtraces from a Julia error message.

    Example
    -------
    >>> short_julia_message("MethodError: no method matching f(::Vector{Float64})")
    'MethodError: no method matching f(::Vector)'
    """
    text = text.split("\nStacktrace:")[0]
    for _ in range(5):
        new = _TYPE_PARAMS.sub("", text)
        if new == text:
            break
        text = new
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def make_julia_error(julia_type: str, message: str) -> JuliaError:
    """A ``bridge.JuliaError`` with a short message (no repeated type name, no type walls).

    Example
    -------
    >>> str(make_julia_error("DimensionMismatch", "DimensionMismatch: a has size (2,)"))
    'DimensionMismatch: a has size (2,)'
    """
    text = short_julia_message(message)
    for prefix in (f"{julia_type}: ", "ERROR: "):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    return JuliaError(julia_type, text)


def is_juliacall_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a ``juliacall.JuliaError`` (recognised without importing juliacall).

    Example
    -------
    >>> is_juliacall_error(ValueError("python"))
    False
    """
    return type(exc).__name__ == "JuliaError" and is_juliacall_object(exc)


def translate_exception(
    exc: BaseException, describe: Callable[[Any], tuple[str, str]]
) -> BaseException:
    """Map a juliacall exception to a bridge error.

    * ``juliacall.JuliaError`` (any Julia exception) -> ``bridge.JuliaError`` carrying the
      Julia type name (``LoadError`` unwrapped) and a short message; ``describe(julia_exc)``
      returns (type name, showerror text), asked of DiffBridge;
    * PythonCall's ``TypeError("Julia: ...")``, its rendering of a ``MethodError`` on the
      called function itself -> ``bridge.JuliaError("MethodError", ...)``;
    * anything else (a Python exception raised inside a Python callback) unchanged.

    Example
    -------
    >>> translate_exception(TypeError("Julia: MethodError: no method matching g(::Int64)"),
    ...                     describe=lambda e: ("", "")).julia_type
    'MethodError'
    """
    if isinstance(exc, (KeyboardInterrupt, SystemExit, BridgeError)):
        return exc
    if is_juliacall_error(exc):
        julia_exception = exc.args[0] if exc.args else None
        try:
            julia_type, message = describe(julia_exception)
        except Exception:  # keep the original text rather than fail while reporting
            julia_type, message = "JuliaError", str(exc)
        return make_julia_error(julia_type, message)
    if isinstance(exc, TypeError) and str(exc).startswith(_METHOD_ERROR_PREFIX):
        return make_julia_error("MethodError", str(exc)[len(_METHOD_ERROR_PREFIX) :].strip())
    return exc
