"""Where arrays cross the language boundary: the only place copies are made for Julia.

The layout fact everything rests on: a C-ordered NumPy array of shape (nt, n) has exactly
the memory of a column-major Julia ``Matrix`` of size (n, nt). So

* inputs for Julia (u0, p, saveat, cotangents) are float64 and C-contiguous: such an array
  is handed over as is, anything else (other real dtypes, non-contiguous views) is copied
  exactly once, here (``for_julia``). The problem already owns float64 copies of its small
  inputs (``bridge._problem``), so for u0 and p this is a no-op;
* the (nt, n) cotangent goes over as its transpose, an (n, nt) F-contiguous view of the same
  memory, which PythonCall wraps as an n × nt ``PyArray`` (``cotangent_for_julia``); an
  ensemble's stacked (N, n) u0, (N, m) p and (N, nt, n) cotangent likewise go over as
  n × N, m × N and n × nt × N arrays, member i being Julia's last index
  (``transposed_for_julia``);
* Julia's n × nt solution matrix comes back, once, as a NumPy (n, nt) F-contiguous view of
  Julia memory (``from_julia``, run by ``session.call`` with the call lock held), then as
  its (nt, n) C-contiguous transpose (``rows_from_julia``); an ensemble's n × nt × N states
  and its n × N / m × N gradients come back as (N, nt, n), (N, n), (N, m) views
  (``transposed_from_julia``).

Julia arrays come back owned by a ``JuliaMemory``, NumPy's ``base`` for every view of them:
it read the array interface once (with the lock held) and keeps the Julia array alive;
when the last view goes, it hands the Julia object to ``release`` instead of dropping it
wherever the garbage collector happens to run (dropping a juliacall object enters Julia).

Nothing here imports juliacall (its objects are recognised by module name), so all of it is
tested without Julia.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._model import FloatArray


def is_juliacall_object(x: Any) -> bool:
    """Whether ``x`` is a juliacall wrapper of a Julia value (matched by module name).

    Example
    -------
    >>> is_juliacall_object(np.zeros(2)), is_juliacall_object("text")
    (False, False)
    """
    return type(x).__module__.split(".")[0] == "juliacall"


def for_julia(x: Any) -> FloatArray:
    """``x`` as a float64 C-contiguous array: itself when it already is one, else one copy.

    Example
    -------
    >>> a = np.arange(3.0)
    >>> for_julia(a) is a
    True
    >>> for_julia(np.arange(3)).dtype
    dtype('float64')
    """
    return np.ascontiguousarray(x, dtype=np.float64)


def transposed_for_julia(x: Any, ndim: int) -> FloatArray:
    """An ``ndim``-D array as its reversed-axes view, which Julia reads with the same index
    order as NumPy's C order reversed: an (N, k) stack of members is Julia's k × N matrix
    (member i is column i), an (N, nt, n) one is n × nt × N, an (nt, n) cotangent n × nt.
    No copy for float64 C-contiguous input, else exactly one (``for_julia``).

    Example
    -------
    >>> U0 = np.arange(6.0).reshape(3, 2)  # 3 members, 2 states
    >>> v = transposed_for_julia(U0, 2)
    >>> v.shape, v.flags.f_contiguous, np.shares_memory(v, U0), v[:, 2].tolist()
    ((2, 3), True, True, [4.0, 5.0])
    """
    arr = for_julia(x)
    if arr.ndim != ndim:
        raise ValueError(f"expected a {ndim}-D array, got shape {arr.shape}")
    return arr.T


def cotangent_for_julia(cotangent: Any) -> FloatArray:
    """An (nt, n) cotangent as the (n, nt) F-contiguous view Julia reads as its n × nt Ȳ.

    Example
    -------
    >>> c = np.zeros((5, 2))
    >>> v = cotangent_for_julia(c)
    >>> v.shape, v.flags.f_contiguous, np.shares_memory(v, c)
    ((2, 5), True, True)
    """
    return transposed_for_julia(cotangent, 2)


class JuliaMemory:
    """The owner of a Julia array's memory, seen from NumPy (it is the views' ``base``).

    ``interface`` is the array interface Julia reported once; when no view needs the Julia
    array any more, ``release(self)`` drops ``self._value`` (``session.release`` does it
    with the call lock held).
    """

    __slots__ = ("_interface", "_release", "_value")

    def __init__(
        self, value: Any, interface: dict[str, Any], release: Callable[[Any], None]
    ) -> None:
        self._value = value
        self._interface = interface
        self._release = release

    @property
    def __array_interface__(self) -> dict[str, Any]:
        return self._interface

    @property
    def value(self) -> Any:
        """The juliacall object (for tests that ask Julia about the array)."""
        return self._value

    def __del__(self) -> None:
        if self._value is not None:
            self._release(self)


def from_julia(value: Any, release: Callable[[Any], None], handle: Callable[[Any], Any]) -> Any:
    """A DiffBridge result as Python objects; call it with the call lock held.

    Tuples are converted element by element; a Julia array of numbers becomes a NumPy view
    of its memory (no copy) owned by a ``JuliaMemory``; any other juliacall object becomes
    ``handle(value)``; Python values (str, int, float, None) pass unchanged.

    Example
    -------
    >>> from_julia(("Success", (1, 2), 0.5), release=print, handle=repr)
    ('Success', (1, 2), 0.5)
    """
    if isinstance(value, tuple):
        return tuple(from_julia(v, release, handle) for v in value)
    if not is_juliacall_object(value):
        return value
    try:
        interface = dict(value.__array_interface__)
    except AttributeError:  # not an array of numbers: keep it opaque
        return handle(value)
    shape = tuple(interface["shape"])
    if 0 in shape:  # nothing to view (and the data pointer may be null)
        return np.empty(shape, dtype=np.dtype(interface["typestr"]))
    interface["shape"] = shape
    if interface.get("strides") is not None:
        interface["strides"] = tuple(interface["strides"])
    return np.asarray(JuliaMemory(value, interface, release))


def transposed_from_julia(value: Any, ndim: int) -> FloatArray:
    """A Julia array (already a NumPy view of its column-major memory) with its axes
    reversed, as a C-contiguous array without a copy: Julia's n × nt matrix is (nt, n),
    an n × nt × N ensemble array (N, nt, n), a k × N matrix (N, k).

    Only if Julia ever handed over something that is not column-major float64 would this
    copy, once.

    Example
    -------
    >>> julia_like = np.asfortranarray(np.arange(12.0).reshape(2, 3, 2))  # n, nt, N
    >>> m = transposed_from_julia(julia_like, 3)
    >>> m.shape, m.flags.c_contiguous, np.shares_memory(m, julia_like)
    ((2, 3, 2), True, True)
    """
    arr = np.asarray(value)
    if arr.ndim != ndim:
        raise ValueError(f"expected a {ndim}-D array from Julia, got shape {arr.shape}")
    return np.ascontiguousarray(arr.T, dtype=np.float64)


def rows_from_julia(value: Any) -> FloatArray:
    """Julia's n × nt matrix, seen as (n, nt), as an (nt, n) C-contiguous array, no copy.

    Example
    -------
    >>> m = np.asfortranarray(np.arange(6.0).reshape(2, 3))  # stands in for a Julia matrix
    >>> r = rows_from_julia(m)
    >>> r.shape, r.flags.c_contiguous, np.shares_memory(r, m)
    ((3, 2), True, True)
    """
    return transposed_from_julia(value, 2)


def vector_from_julia(value: Any) -> FloatArray:
    """A Julia ``Vector{Float64}`` (already a NumPy view) as a 1-D float64 array, no copy.

    Example
    -------
    >>> v = np.arange(3.0)
    >>> vector_from_julia(v) is v
    True
    """
    arr = np.asarray(value)
    if arr.ndim != 1:
        raise ValueError(f"expected a vector from Julia, got shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.float64)


def array_from_julia(value: Any) -> Any:
    """A Julia result for ``bridge.zygote``: float64 arrays as they came (NumPy views, in
    Julia's logical index order), integers as floats, anything else unchanged.

    Example
    -------
    >>> array_from_julia(3), array_from_julia(True)
    (3.0, True)
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, float)):
        return float(value)
    return value
