"""What a trace froze: a fingerprint of the values a traced function reads besides u, p, t.

Tracing calls ``f(u, p, t)`` once; every other value it reads (closure cells, module
globals, default arguments, the attributes of a bound method's object, and the same for
the Python functions it calls) is compiled into the model as a constant. If the user
changes one later (``k = 2``, ``W[0, 0] = 5.0``), the model is stale. ``snapshot(f)`` maps
each such value, by a path (``"closure:k"``, ``"global:W"``, ``"global:helper/global:c"``),
to a digest: numbers and strings by value, arrays by dtype, shape and a hash of their bytes,
containers element by element, modules, classes and other objects by identity.

``Frozen`` keeps the paths that did not change while the function was traced and checked
(a value the function itself changes on every call, such as a call counter, is output, not
input) and tells when any of them changed since.

Example
-------
>>> k = [1.0]
>>> f = lambda u, p, t: -k[0] * u
>>> frozen = Frozen.of(f, before=snapshot(f))
>>> frozen.changed(f)
[]
>>> k[0] = 2.0
>>> frozen.changed(f)
['global:k[0]']
"""

from __future__ import annotations

import hashlib
import types
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

#: How deep containers and the functions a function calls are followed.
_MAX_DEPTH = 4
#: Longer lists/tuples/dicts are fingerprinted by identity and length only.
_MAX_ITEMS = 256

Snapshot = dict[str, Any]


def _global_names(code: types.CodeType) -> Iterator[str]:
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):  # comprehensions, lambdas, nested defs
            yield from _global_names(const)


def _leaf(value: Any) -> Any:
    """A digest of one value that is not followed further (None: follow it)."""
    if value is None or isinstance(value, (bool, int, str, bytes)):
        return (type(value).__name__, value)
    if isinstance(value, float):
        return ("float", value.hex())
    if isinstance(value, complex):
        return ("complex", value.real.hex(), value.imag.hex())
    if isinstance(value, np.generic):
        return ("np", value.dtype.str, value.tobytes())
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return None
        data = np.ascontiguousarray(value).tobytes()
        return ("array", value.dtype.str, value.shape, hashlib.blake2b(data).digest())
    if isinstance(value, (types.ModuleType, type, types.BuiltinFunctionType, np.ufunc)):
        return ("id", id(value))
    return None


def _walk(value: Any, path: str, depth: int, seen: set[int], out: Snapshot) -> None:
    leaf = _leaf(value)
    if leaf is not None:
        out[path] = leaf
        return
    if id(value) in seen or depth >= _MAX_DEPTH:
        out[path] = ("id", id(value))
        return
    seen = seen | {id(value)}
    if isinstance(value, types.FunctionType):
        out[path] = ("function", id(value.__code__))
        _function(value, path + "/", depth + 1, seen, out)
    elif isinstance(value, types.MethodType):
        out[path] = ("method", id(value.__func__))
        if isinstance(value.__func__, types.FunctionType):
            _function(value.__func__, path + "/", depth + 1, seen, out)
        _walk(value.__self__, path + "/self", depth + 1, seen, out)
    elif isinstance(value, (list, tuple, np.ndarray)):
        items = list(np.ravel(value)) if isinstance(value, np.ndarray) else list(value)
        out[path] = (type(value).__name__, len(items), getattr(value, "shape", None))
        if len(items) <= _MAX_ITEMS:
            for i, item in enumerate(items):
                _walk(item, f"{path}[{i}]", depth + 1, seen, out)
    elif isinstance(value, Mapping):
        out[path] = ("mapping", id(value), len(value))
        if len(value) <= _MAX_ITEMS:
            for key, item in list(value.items()):
                _walk(item, f"{path}[{key!r}]", depth + 1, seen, out)
    elif hasattr(value, "__dict__") and not callable(value):
        out[path] = ("object", id(value))
        _walk(vars(value), path + ".__dict__", depth + 1, seen, out)
    elif hasattr(value, "__dict__"):  # a callable object: its attributes and its __call__
        out[path] = ("callable", id(value))
        _walk(vars(value), path + ".__dict__", depth + 1, seen, out)
        call = vars(type(value)).get("__call__")
        if isinstance(call, types.FunctionType):
            _function(call, path + ".__call__/", depth + 1, seen, out)
    else:
        out[path] = ("id", id(value))


def _function(
    func: types.FunctionType, prefix: str, depth: int, seen: set[int], out: Snapshot
) -> None:
    code = func.__code__
    for name, cell in zip(code.co_freevars, func.__closure__ or (), strict=True):
        try:
            contents = cell.cell_contents
        except ValueError:  # an empty cell: a name assigned later in the enclosing scope
            continue
        _walk(contents, f"{prefix}closure:{name}", depth, seen, out)
    globs = func.__globals__
    for name in sorted(set(_global_names(code))):
        if name in globs:
            _walk(globs[name], f"{prefix}global:{name}", depth, seen, out)
    for i, default in enumerate(func.__defaults__ or ()):
        _walk(default, f"{prefix}default:{i}", depth, seen, out)
    for key, default in (func.__kwdefaults__ or {}).items():
        _walk(default, f"{prefix}default:{key}", depth, seen, out)


def snapshot(func: Callable[..., Any]) -> Snapshot:
    """Path -> digest of every value ``func`` reads besides its arguments (module docstring)."""
    out: Snapshot = {}
    if isinstance(func, types.FunctionType):
        _function(func, "", 0, {id(func)}, out)
    else:
        _walk(func, "self", 0, set(), out)
    return out


class Frozen:
    """The values a trace froze, and a check that they are still the same."""

    def __init__(self, digests: Snapshot) -> None:
        self.digests = digests

    @classmethod
    def of(cls, func: Callable[..., Any], before: Snapshot) -> Frozen:
        """What ``func`` reads now, less what changed since ``before`` (its own output)."""
        after = snapshot(func)
        return cls({k: v for k, v in after.items() if before.get(k) == v})

    def changed(self, func: Callable[..., Any]) -> list[str]:
        """The paths whose values changed since the trace (empty: the model is current)."""
        if not self.digests:  # the function reads nothing but its arguments
            return []
        now = snapshot(func)
        return [k for k, v in self.digests.items() if now.get(k) != v]


__all__ = ["Frozen", "snapshot"]
