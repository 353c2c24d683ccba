"""Input validation: every public entry point checks its arguments here, before any work.

Policy on dtypes (documented in README): real integer and boolean-free float inputs are cast
to float64 once; complex, boolean, string and object inputs are refused with a TypeError.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._errors import BridgeTypeError, BridgeValueError
from ._model import FloatArray

#: DifferentialEquations.jl's defaults, shared by both backends.
DEFAULT_RELTOL = 1e-3
DEFAULT_ABSTOL = 1e-6
DEFAULT_MAXITERS = 1_000_000


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def as_float_vector(
    value: Any, name: str, *, allow_empty: bool = False, allow_nd: bool = False
) -> FloatArray:
    """Check ``value`` is a finite real 1-D array and return it as C-contiguous float64.

    A float64 C-contiguous input is returned as is (no copy); anything else is copied once.

    Example
    -------
    >>> as_float_vector([1, 2], "u0")
    array([1., 2.])
    """
    if isinstance(value, (str, bytes)):
        raise BridgeTypeError(f"{name} must be an array of real numbers, got the string {value!r}")
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise BridgeValueError(f"{name} could not be read as an array: {exc}") from exc
    if arr.dtype.kind == "c":
        raise BridgeTypeError(
            f"{name} is complex ({arr.dtype}); bridge solves real ODEs: split real and "
            "imaginary parts into separate states"
        )
    if arr.dtype.kind not in "fiu":
        raise BridgeTypeError(
            f"{name} must hold real numbers, got dtype {arr.dtype} from {_short(value)}"
        )
    if not allow_nd and arr.ndim != 1:
        if arr.ndim == 0:
            raise BridgeValueError(
                f"{name} must be a 1-D array, got the scalar {_short(value)}; use [{arr.item()!r}]"
            )
        raise BridgeValueError(f"{name} must be a 1-D array, got shape {arr.shape}")
    if arr.size == 0 and not allow_empty:
        raise BridgeValueError(f"{name} must not be empty, got {_short(value)}")
    out = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.all(np.isfinite(out)):
        bad = np.flatnonzero(~np.isfinite(out.ravel()))
        raise BridgeValueError(
            f"{name} must be finite, but entry {int(bad[0])} is {float(out.ravel()[bad[0]])!r}"
        )
    return out


def _scalar(value: Any) -> Any:
    """A Python/NumPy scalar from any real scalar: 0-d arrays, NumPy, torch or JAX scalars.

    Arrays with one element but more dimensions are not scalars here (``[1.0]`` as a
    tolerance is more likely a mistake than a wish). Returns the value unchanged when it is
    not scalar-like, for the caller's error message.
    """
    if isinstance(value, (int, float, np.generic)):
        return value
    if isinstance(value, (str, bytes)):
        return value
    shape = getattr(value, "shape", None)
    if shape is not None and tuple(shape) == () and hasattr(value, "item"):
        try:  # torch tensors that require grad refuse np.asarray but give .item()
            return value.item()
        except Exception:
            return value
    return value


def as_real(value: Any, name: str) -> float:
    """A finite real scalar (not bool), as float: Python, NumPy, 0-d array, torch or JAX.

    Example
    -------
    >>> as_real(np.array(0.5), "reltol"), as_real(np.float32(2), "t")
    (0.5, 2.0)
    """
    value = _scalar(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise BridgeTypeError(f"{name} must be a real number, got {_short(value)}")
    if isinstance(value, (complex, np.complexfloating)):
        raise BridgeTypeError(f"{name} must be a real number, got {_short(value)}")
    out = float(value)
    if not math.isfinite(out):
        raise BridgeValueError(f"{name} must be finite, got {out!r}")
    return out


def as_count(value: Any, name: str) -> int:
    """A positive integer: ints in any form, and floats with an integral value (``1e6``).

    Example
    -------
    >>> as_count(1e6, "maxiters"), as_count(np.array(10), "maxiters")
    (1000000, 10)
    """
    value = _scalar(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise BridgeTypeError(f"{name} must be a positive integer, got {_short(value)}")
    if isinstance(value, (float, np.floating)):
        if not (math.isfinite(value) and float(value).is_integer()):
            raise BridgeTypeError(f"{name} must be a positive integer, got {_short(value)}")
    elif not isinstance(value, (int, np.integer)):
        raise BridgeTypeError(f"{name} must be a positive integer, got {_short(value)}")
    out = int(value)
    if out <= 0:
        raise BridgeValueError(f"{name} must be a positive integer, got {out!r}")
    return out


def as_tspan(value: Any) -> tuple[float, float]:
    """Check ``tspan`` is two distinct finite times (a tuple, list, array or tensor of 2).

    Example
    -------
    >>> as_tspan((0, 1)), as_tspan(np.array([0.0, 2.0]))
    ((0.0, 1.0), (0.0, 2.0))
    """
    if isinstance(value, (set, frozenset, Mapping)):
        kind = "set" if isinstance(value, (set, frozenset)) else "mapping"
        raise BridgeTypeError(
            f"tspan must be an ordered pair (t0, t1) such as a tuple, got the {kind} "
            f"{_short(value)}, which has no order: write tspan=(t0, t1)"
        )
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise BridgeTypeError(f"tspan must be a pair (t0, t1), got {_short(value)}")
    if getattr(value, "ndim", 1) != 1:
        raise BridgeValueError(f"tspan must be a pair (t0, t1), got shape {np.shape(value)}")
    if len(value) != 2:
        raise BridgeValueError(
            f"tspan must have 2 entries (t0, t1), got {len(value)}: {_short(value)}"
        )
    try:
        first, second = value[0], value[1]
    except (TypeError, KeyError, IndexError):
        raise BridgeTypeError(
            f"tspan must be an ordered pair (t0, t1) such as a tuple, got {_short(value)}"
        ) from None
    t0 = as_real(first, "tspan[0]")
    t1 = as_real(second, "tspan[1]")
    if t0 == t1:
        raise BridgeValueError(f"tspan must have distinct ends, got ({t0!r}, {t1!r})")
    return (t0, t1)


#: The tightest reltol float64 can meet: SciPy refuses rtol below 100 machine epsilons
#: (its step-size control stops making sense there), and so does bridge, with a warning.
MIN_RELTOL = 100 * float(np.finfo(np.float64).eps)


def _check_reltol(rt: float) -> float:
    if rt <= 0:
        raise BridgeValueError(f"reltol must be positive, got {rt!r}")
    if rt >= MIN_RELTOL:
        return rt
    from ._errors import BridgeWarning, user_stacklevel

    warnings.warn(
        f"reltol={rt!r} is below what float64 arithmetic can meet (errors of about "
        f"100 machine epsilons, {MIN_RELTOL:.1e}, are its limit); using reltol={MIN_RELTOL:.1e}. "
        "For more digits, use tighter abstol where the solution is small, or solve in "
        "higher precision on the Julia backend.",
        BridgeWarning,
        stacklevel=user_stacklevel(),
    )
    return MIN_RELTOL


@dataclass(frozen=True)
class SolveOptions:
    """Validated solver options, shared by every backend.

    ``events``, ``tstops`` and a per-state ``abstol_vector`` are options an engine must
    declare it runs (``Backend.unsupported_options``, see ``bridge/_backend.py``); an engine
    that does not is refused by name and passed over by ``auto``, so it never sees them.
    """

    saveat: FloatArray | None
    reltol: float
    #: The absolute tolerance; with a per-state ``abstol_vector``, its smallest entry (for
    #: code that needs one number, such as the scale of an adjoint's tolerance).
    abstol: float
    maxiters: int
    #: Show a progress bar over t (tqdm) on the engines that can report progress.
    progress: bool = False
    #: ``bridge.Event`` objects, in the order given (docs/events.md).
    events: tuple[Any, ...] = ()
    #: Times the solver must step exactly onto, sorted in the direction of integration,
    #: strictly inside tspan; None when there are none.
    tstops: FloatArray | None = None
    #: A per-state absolute tolerance (length n), or None for the scalar ``abstol``.
    abstol_vector: FloatArray | None = None

    @property
    def atol(self) -> float | FloatArray:
        """The absolute tolerance as a solver takes it: the vector if given, else the scalar."""
        return self.abstol if self.abstol_vector is None else self.abstol_vector

    def extras(self) -> list[str]:
        """The options beyond the basic ones that this solve asks for, for messages.

        Example
        -------
        >>> check_options((0.0, 1.0), None, 1e-3, [1e-6, 1e-8], 100, n_states=2).extras()
        ['a per-state abstol']
        """
        wanted = []
        if self.events:
            wanted.append("events")
        if self.tstops is not None:
            wanted.append("tstops")
        if self.abstol_vector is not None:
            wanted.append("a per-state abstol")
        return wanted


def _check_abstol(abstol: Any, n_states: int | None) -> tuple[float, FloatArray | None]:
    """A scalar abstol, or a per-state one (length n_states), non-negative and finite."""
    if isinstance(abstol, (str, bytes)) or np.ndim(_scalar(abstol)) == 0:
        at = as_real(abstol, "abstol")
        if at < 0:
            raise BridgeValueError(f"abstol must be non-negative, got {at!r}")
        return at, None
    vec = np.array(as_float_vector(abstol, "abstol"))  # our own copy
    if n_states is not None and vec.shape[0] != n_states:
        raise BridgeValueError(
            f"abstol has {vec.shape[0]} entries, but u0 has {n_states} states: give one "
            "absolute tolerance per state, or a single number for all"
        )
    if (vec < 0).any():
        i = int(np.argmax(vec < 0))
        raise BridgeValueError(f"abstol must be non-negative, but abstol[{i}] = {float(vec[i])!r}")
    vec.setflags(write=False)
    return float(vec.min()), vec


def check_tstops(tstops: Any, tspan: tuple[float, float]) -> FloatArray | None:
    """``tstops`` as the times strictly inside tspan, sorted in the direction of integration
    (duplicates and the ends of tspan dropped: the solver stops there anyway); None if empty.

    Example
    -------
    >>> check_tstops([2.0, 1.0, 2.0, 3.0], (0.0, 3.0))
    array([1., 2.])
    """
    if tstops is None:
        return None
    ts = np.array(as_float_vector(tstops, "tstops", allow_empty=True))
    t0, t1 = tspan
    lo, hi = min(t0, t1), max(t0, t1)
    outside = (ts < lo) | (ts > hi)
    if outside.any():
        i = int(np.argmax(outside))
        raise BridgeValueError(
            f"tstops must lie inside tspan {tspan}, but tstops[{i}] = {float(ts[i])!r} does not"
        )
    ts = np.unique(ts[(ts != t0) & (ts != t1)])
    if t1 < t0:
        ts = ts[::-1].copy()
    if ts.size == 0:
        return None
    ts.setflags(write=False)
    return ts


def check_options(
    tspan: tuple[float, float],
    saveat: Any,
    reltol: Any,
    abstol: Any,
    maxiters: Any,
    progress: Any = False,
    *,
    events: tuple[Any, ...] = (),
    tstops: Any = None,
    n_states: int | None = None,
) -> SolveOptions:
    """Validate solve options against ``tspan``.

    ``saveat`` may be None (the solver's own steps), a positive step Δ (t0, t0+Δ, ...,
    and t1), or an array of times inside tspan, sorted in the direction of integration.
    ``abstol`` is a number or one per state (``n_states`` checks the length); ``events``
    are already checked (``bridge._events.check_events``); ``tstops`` see ``check_tstops``.

    Example
    -------
    >>> check_options((0.0, 1.0), 0.5, 1e-3, 1e-6, 100).saveat
    array([0. , 0.5, 1. ])
    """
    rt = _check_reltol(as_real(reltol, "reltol"))
    at, at_vector = _check_abstol(abstol, n_states)
    iters = as_count(maxiters, "maxiters")
    t0, t1 = tspan
    direction = 1.0 if t1 > t0 else -1.0
    ts: FloatArray | None = None
    if saveat is not None:
        if not isinstance(saveat, (str, bytes)) and np.ndim(_scalar(saveat)) == 0:
            step = as_real(saveat, "saveat")
            if step <= 0:
                raise BridgeValueError(f"saveat as a step must be positive, got {step!r}")
            span = abs(t1 - t0)
            if span / step > 1e8:
                raise BridgeValueError(
                    f"saveat={step!r} would save {span / step:.3g} points over tspan {tspan}"
                )
            k = math.floor(span / step * (1 + 1e-12))
            ts = t0 + direction * step * np.arange(k + 1, dtype=np.float64)
            if abs(ts[-1] - t1) > 1e-12 * max(1.0, abs(t1)):
                ts = np.append(ts, t1)
            else:
                ts[-1] = t1
        else:
            ts = np.array(as_float_vector(saveat, "saveat"))  # our own copy
            lo, hi = min(t0, t1), max(t0, t1)
            outside = (ts < lo) | (ts > hi)
            if outside.any():
                raise BridgeValueError(
                    f"saveat must lie inside tspan {tspan}, but saveat[{int(np.argmax(outside))}]"
                    f" = {float(ts[outside][0])!r} does not"
                )
            steps = np.diff(ts) * direction
            if (steps <= 0).any():
                i = int(np.argmax(steps <= 0))
                order = "increasing" if direction > 0 else "decreasing (tspan runs backwards)"
                raise BridgeValueError(
                    f"saveat must be strictly {order}, but saveat[{i}] = {float(ts[i])!r} and "
                    f"saveat[{i + 1}] = {float(ts[i + 1])!r}"
                )
    if not isinstance(progress, (bool, np.bool_)):
        raise BridgeTypeError(f"progress must be True or False, got {_short(progress)}")
    if ts is not None:
        ts.setflags(write=False)
    return SolveOptions(
        saveat=ts,
        reltol=rt,
        abstol=at,
        maxiters=iters,
        progress=bool(progress),
        events=tuple(events),
        tstops=check_tstops(tstops, tspan),
        abstol_vector=at_vector,
    )


def check_cotangent(cotangent: Any, shape: tuple[int, ...]) -> FloatArray:
    """A cotangent must match ``sol.u`` in shape and be real and finite.

    A float64 C-contiguous input is used as is; other real dtypes are copied once.
    """
    arr = np.asarray(cotangent)
    if arr.dtype.kind not in "fiu":
        raise BridgeTypeError(f"cotangent must hold real numbers like sol.u, got dtype {arr.dtype}")
    if arr.shape != shape:
        raise BridgeValueError(f"cotangent must have the shape of sol.u {shape}, got {arr.shape}")
    out = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.all(np.isfinite(out)):
        raise BridgeValueError("cotangent must be finite, but it contains NaN or inf")
    return out
