"""Where arrays cross the language boundary, and the only places they are copied.

The layout fact everything rests on: a C-ordered NumPy array of shape (nt, n) has exactly
the memory of a column-major Julia ``Matrix`` of size (n, nt). So

* inputs for Julia (u0, p, saveat, cotangents) are float64 and C-contiguous: such an array
  is handed over as is, anything else (other real dtypes, non-contiguous views) is copied
  exactly once, here (``for_julia``);
* the (nt, n) cotangent goes over as its transpose, an (n, nt) F-contiguous view of the same
  memory, which PythonCall wraps as an n × nt ``PyArray`` (``cotangent_for_julia``);
* Julia's n × nt solution matrix, which NumPy sees as an (n, nt) F-contiguous array, comes
  back as its (nt, n) C-contiguous transpose (``rows_from_julia``).

Pure NumPy: nothing here imports juliacall, so all of it is tested without Julia.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._model import FloatArray


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


def cotangent_for_julia(cot: Any) -> FloatArray:
    """An (nt, n) cotangent as the (n, nt) F-contiguous view Julia reads as its n × nt Ȳ.

    Example
    -------
    >>> c = np.zeros((5, 2))
    >>> v = cotangent_for_julia(c)
    >>> v.shape, v.flags.f_contiguous, np.shares_memory(v, c)
    ((2, 5), True, True)
    """
    arr = for_julia(cot)
    if arr.ndim != 2:
        raise ValueError(f"a cotangent must be 2-D (nt, n), got shape {arr.shape}")
    return arr.T


def rows_from_julia(value: Any) -> FloatArray:
    """Julia's n × nt Float64 matrix as an (nt, n) C-contiguous NumPy array, without copying.

    ``value`` is anything exposing the array interface (juliacall's ``ArrayValue``); NumPy
    keeps it alive as the result's ``base``. Only if Julia ever handed over something that is
    not column-major float64 would this copy, once.

    Example
    -------
    >>> m = np.asfortranarray(np.arange(6.0).reshape(2, 3))  # stands in for a Julia matrix
    >>> r = rows_from_julia(m)
    >>> r.shape, r.flags.c_contiguous, np.shares_memory(r, m)
    ((3, 2), True, True)
    """
    arr = np.asarray(value)
    if arr.ndim != 2:
        raise ValueError(f"expected a matrix from Julia, got shape {arr.shape}")
    return np.ascontiguousarray(arr.T, dtype=np.float64)


def vector_from_julia(value: Any) -> FloatArray:
    """A Julia ``Vector{Float64}`` as a 1-D NumPy array, without copying.

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
    """A Julia result for ``bridge.zygote``: Float64 arrays as NumPy arrays (no copy, in
    Julia's logical index order), numbers as floats, anything else unchanged."""
    if isinstance(value, (bool, int, float)):
        return float(value) if not isinstance(value, bool) else value
    if hasattr(value, "__array_interface__") or isinstance(value, np.ndarray):
        arr = np.asarray(value)
        if arr.dtype == np.float64:
            return arr
    return value
