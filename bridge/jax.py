"""Differentiable ODE solves in JAX: ``odeint`` is a ``jax.custom_vjp`` around ``pure_callback``.

The forward callback calls ``bridge.vjp`` and keeps its pullback on the Python side under a
small integer token that travels in the residuals; the backward callback calls that pullback
with the cotangent (or, if the pullback is gone, e.g. evicted after 64 unanswered forwards,
solves again from the inputs, which are residuals too). So ``odeint`` works eagerly and
under ``jax.jit``, ``jax.grad``, ``jax.vjp`` and ``jax.value_and_grad``.

Precision: bridge.jax is meant to run with ``jax.config.update("jax_enable_x64", True)``.
The solve always runs in float64 on the host; with x64 enabled, results and gradients are
float64 (float32 inputs give float32 results, cast once). With x64 disabled, JAX cannot hold
float64, so results and gradients are rounded to float32 and a warning says so, once.

``jax.vmap``: the callbacks use ``vmap_method="broadcast_all"``, so a batch is solved one
problem after another (correct, not parallel). Forward-mode (``jax.jvp``, ``jax.jacfwd``)
is not available: ``custom_vjp`` functions support reverse mode only. Input values are
checked eagerly when they are concrete; under ``jit`` a bad value raises from inside the
callback (JAX wraps the bridge error text in its own runtime error).

Example
-------
>>> import jax, jax.numpy as jnp
>>> jax.config.update("jax_enable_x64", True)
>>> from bridge.jax import odeint
>>> def decay(u, p, t):
...     return -p[0] * u
>>> loss = lambda p: odeint(decay, jnp.array([1.0]), jnp.array([0.0, 1.0]), p,
...                         reltol=1e-10, abstol=1e-10, backend="reference")[-1, 0]
>>> round(float(jax.grad(loss)(jnp.array([0.5]))[0]), 6)
-0.606531
"""

from __future__ import annotations

import itertools
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._errors import BridgeError, BridgeTypeError, BridgeValueError
from ._odeint import Odeint, check_values, default_inputs, prepare_odeint

__all__ = ["odeint"]

#: Pullbacks waiting for their backward pass, by token; bounded so that forwards whose
#: backward never runs (a jax.vjp never pulled back) cannot hold memory forever.
_PENDING: OrderedDict[int, Any] = OrderedDict()
_PENDING_MAX = 64
_PENDING_LOCK = threading.Lock()
_TOKENS = itertools.count(1)
_warned_x64 = False


def _remember(pullback: Any) -> int:
    token = next(_TOKENS) % (2**31 - 1)
    with _PENDING_LOCK:
        _PENDING[token] = pullback
        while len(_PENDING) > _PENDING_MAX:
            _PENDING.popitem(last=False)
    return token


def _recall(token: int) -> Any:
    with _PENDING_LOCK:
        return _PENDING.pop(token, None)


def _is_concrete(x: Any) -> bool:
    return not isinstance(x, jax.core.Tracer)


def _as_array(x: Any, name: str) -> jax.Array:
    try:
        arr = jnp.asarray(x)
    except Exception as exc:
        raise BridgeTypeError(f"{name} must be an array of real numbers, got {x!r}") from exc
    if not (jnp.issubdtype(arr.dtype, jnp.floating) or jnp.issubdtype(arr.dtype, jnp.integer)):
        raise BridgeTypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise BridgeValueError(
            f"{name} must be a 1-D array, got shape {tuple(arr.shape)}"
            + ("; for a batch of problems use jax.vmap" if arr.ndim > 1 else "")
        )
    return arr


def _f64(x: Any) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float64)


def odeint(
    rhs_or_problem: Any,
    u0: Any,
    t: Any,
    p: Any = None,
    *,
    alg: str = "auto",
    sensealg: str = "auto",
    backend: str | None = None,
    **solver_options: Any,
) -> jax.Array:
    """Solve ``du/dt = f(u, p, t)``; ``u`` at the times ``t``, differentiable in reverse mode.

    Parameters
    ----------
    rhs_or_problem : callable or bridge.ODEProblem
        ``f(u, p, t)`` written with NumPy functions (traced once per function and size, then
        cached; constants it closes over are frozen then), or an ``ODEProblem`` whose u0, p
        and tspan are replaced by the arguments here (named parameters passed flat).
    u0 : array, shape (n,)
        Initial state at ``t[0]``; ``None`` with an ODEProblem uses ``prob.u0``.
    t : array, shape (nt,)
        Save times, strictly monotone, at least two; the solve runs from ``t[0]`` to ``t[-1]``.
        Differentiable: dL/dt_i = dL/du_i·f(u_i) for i >= 1, and the shift of the whole
        trajectory for t[0] (NaN for a JuliaFunction right-hand side, which has no Python f).
    p : array, shape (m,), optional
        Parameters; ``None`` with an ODEProblem uses ``prob.p``; default none.
    alg, sensealg, backend
        As in ``bridge.vjp``.
    **solver_options
        ``reltol``, ``abstol``, ``maxiters``.

    Returns
    -------
    jax.Array, shape (nt, n)
        In the inputs' floating dtype (float64 with x64 enabled); computed in float64.

    Example
    -------
    >>> import jax, jax.numpy as jnp
    >>> jax.config.update("jax_enable_x64", True)
    >>> def lv(u, p, t):
    ...     x, y = u
    ...     return [p[0] * x - p[1] * x * y, -p[2] * y + p[3] * x * y]
    >>> @jax.jit
    ... def loss(p):
    ...     u = odeint(lv, jnp.array([1.0, 1.0]), jnp.linspace(0.0, 1.0, 5), p,
    ...                backend="reference")
    ...     return jnp.sum(u**2)
    >>> jax.grad(loss)(jnp.array([1.5, 1.0, 3.0, 1.0])).shape
    (4,)
    """
    global _warned_x64
    u0, p = default_inputs(rhs_or_problem, u0, p)
    u0, p, t = _as_array(u0, "u0"), _as_array(p, "p"), _as_array(t, "t")
    if t.shape[0] < 2:
        raise BridgeValueError(
            f"t must hold at least two times (tspan is (t[0], t[-1])), got shape {tuple(t.shape)}"
        )
    call = prepare_odeint(
        rhs_or_problem,
        u0.shape[0],
        p.shape[0],
        alg=alg,
        sensealg=sensealg,
        backend=backend,
        solver_options=solver_options,
    )
    if all(_is_concrete(x) for x in (u0, p, t)):
        check_values(_f64(u0), _f64(p), _f64(t))
    x64 = bool(jax.config.read("jax_enable_x64"))
    work = jnp.float64 if x64 else jnp.float32
    if not x64 and not _warned_x64:
        _warned_x64 = True
        warnings.warn(
            "bridge.jax: jax_enable_x64 is off, so the float64 solve and its gradients are "
            'rounded to float32. Call jax.config.update("jax_enable_x64", True) at startup.',
            stacklevel=2,
        )
    out_dtype = jnp.promote_types(u0.dtype, p.dtype)
    if not jnp.issubdtype(out_dtype, jnp.floating):
        out_dtype = work
    fn = _cached_solve(rhs_or_problem, call, (t.shape[0], u0.shape[0]), work)
    out = fn(u0.astype(work), t.astype(work), p.astype(work))
    return out.astype(out_dtype)


#: The custom_vjp functions built so far, most recent last. Reusing one for the same problem
#: and options keeps its callbacks the same objects, so JAX's compilation caches hit (an eager
#: call with fresh callbacks recompiles: ~100 ms instead of ~1 ms). Bounded, because an entry
#: holds the user's function alive.
_SOLVES: OrderedDict[tuple[Any, ...], tuple[Any, Any]] = OrderedDict()
_SOLVES_MAX = 128


def _cached_solve(
    owner: Any, call: Odeint, shape: tuple[int, int], work: Any
) -> Callable[[jax.Array, jax.Array, jax.Array], jax.Array]:
    options = _options_key(call.solver_options)
    if options is None:  # an option value that cannot be a key: no reuse, still correct
        return _differentiable_solve(call, shape, work)
    key = (
        id(owner),
        call.template.n_states,
        call.template.n_params,
        call.alg,
        call.sensealg,
        call.backend,
        options,
        shape,
        np.dtype(work).name,
    )
    with _PENDING_LOCK:
        hit = _SOLVES.get(key)
        if hit is not None and hit[0] is owner:
            _SOLVES.move_to_end(key)
            return hit[1]
    fn = _differentiable_solve(call, shape, work)
    with _PENDING_LOCK:
        _SOLVES[key] = (owner, fn)
        while len(_SOLVES) > _SOLVES_MAX:
            _SOLVES.popitem(last=False)
    return fn


def _options_key(options: dict[str, Any]) -> tuple[Any, ...] | None:
    """The solver options as a hashable key (lists of events, tstops or per-state abstols
    as tuples, arrays by their contents), or None if one cannot be made. The key holds the
    values themselves (an ``Event`` by identity), never their ids, so it is never reused
    for other options.
    """

    def value(v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            return tuple(value(x) for x in v)
        if isinstance(v, np.ndarray):
            return ("array", v.dtype.str, v.shape, v.tobytes())
        hash(v)  # TypeError for anything else unhashable
        return v

    try:
        return tuple(sorted((k, value(v)) for k, v in options.items()))
    except TypeError:
        return None


def _differentiable_solve(
    call: Odeint, shape: tuple[int, int], work: Any
) -> Callable[[jax.Array, jax.Array, jax.Array], jax.Array]:
    """The custom_vjp function (u0, t, p) -> u for one odeint set-up."""
    out_spec = jax.ShapeDtypeStruct(shape, work)
    token_spec = jax.ShapeDtypeStruct((), jnp.int32)

    n = shape[1]

    def rows(u0: Any, t: Any, p: Any) -> tuple[tuple[int, ...], Any, Any, Any]:
        """Leading batch shape (from vmap) and the inputs as (B, ·) rows."""
        u0, t, p = _f64(u0), _f64(t), _f64(p)
        lead = u0.shape[:-1]
        count = int(np.prod(lead))
        return lead, u0.reshape(count, -1), t.reshape(count, -1), p.reshape(count, -1)

    def shared(T: Any) -> bool:
        return bool(np.all(T == T[0]))

    def run_solve(u0: Any, t: Any, p: Any) -> np.ndarray:
        if np.ndim(u0) == 1:
            return np.asarray(call.solve_at(_f64(u0), _f64(p), _f64(t)), dtype=work)
        lead, U0, T, P = rows(u0, t, p)
        if shared(T):  # one ensemble: every member shares the save times
            u = call.solve_batch(U0, P, T[0])
        else:
            u = np.stack([call.solve_at(U0[i], P[i], T[i]) for i in range(len(U0))])
        return np.asarray(u, dtype=work).reshape(*lead, *shape)

    def forward_cb(u0: Any, t: Any, p: Any) -> tuple[np.ndarray, np.ndarray]:
        if np.ndim(u0) == 1:
            prob, u, pullback = call.vjp_at(_f64(u0), _f64(p), _f64(t))
            token = _remember(("one", prob, pullback))
            return np.asarray(u, dtype=work), np.asarray(token, dtype=np.int32)
        lead, U0, T, P = rows(u0, t, p)
        if shared(T):
            u, pullback = call.vjp_batch(U0, P, T[0])
            token = _remember(("batch", pullback))
        else:
            each = [call.vjp_at(U0[i], P[i], T[i]) for i in range(len(U0))]
            u = np.stack([x[1] for x in each])
            token = _remember(("each", [(x[0], x[2]) for x in each]))
        return (
            np.asarray(u, dtype=work).reshape(*lead, *shape),
            np.full(lead, token, dtype=np.int32),
        )

    def t_grad(prob: Any, t: Any, u: Any, cotangent: Any, g_u0: Any) -> np.ndarray:
        try:
            return Odeint.t_cotangent(prob, t, u, cotangent, g_u0)
        except BridgeError:  # no Python f (JuliaFunction): NaN, harmless unless t is differentiated
            return np.full(len(t), np.nan)

    def backward_cb(
        token: Any, u0: Any, t: Any, p: Any, u: Any, cotangent: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        kept = _recall(int(np.ravel(token)[0]))
        if np.ndim(u0) == 1:
            if kept is None:
                prob, _, pullback = call.vjp_at(_f64(u0), _f64(p), _f64(t))
            else:
                _, prob, pullback = kept
            cotangent = _f64(cotangent)
            g = pullback(cotangent)
            g_t = t_grad(prob, _f64(t), _f64(u), cotangent, g.u0)
            return tuple(np.asarray(x, dtype=work) for x in (g.u0, g_t, g.p))  # type: ignore[return-value]
        lead, U0, T, P = rows(u0, t, p)
        U = _f64(u).reshape(len(U0), *shape)
        C = _f64(cotangent).reshape(len(U0), *shape)
        if kept is None:
            kept = ("batch", call.vjp_batch(U0, P, T[0])[1]) if shared(T) else None
        if kept is not None and kept[0] == "batch":
            g = kept[1](C)
            g_u0, g_p = g.u0, g.p
            try:
                g_t = call.t_cotangent_batch(U0, P, T[0], U, C, g_u0)
            except BridgeError:
                g_t = np.full(T.shape, np.nan)
        else:
            pulls = (
                kept[1]
                if kept is not None
                else [
                    (x[0], x[2]) for x in (call.vjp_at(U0[i], P[i], T[i]) for i in range(len(U0)))
                ]
            )
            gs = [pb(C[i]) for i, (_, pb) in enumerate(pulls)]
            g_u0 = np.stack([g.u0 for g in gs])
            g_p = np.stack([g.p for g in gs])
            g_t = np.stack(
                [t_grad(pulls[i][0], T[i], U[i], C[i], gs[i].u0) for i in range(len(gs))]
            )
        return (
            np.asarray(g_u0, dtype=work).reshape(*lead, n),
            np.asarray(g_t, dtype=work).reshape(*lead, -1),
            np.asarray(g_p, dtype=work).reshape(*lead, -1),
        )

    @jax.custom_vjp
    def solve_fn(u0: jax.Array, t: jax.Array, p: jax.Array) -> jax.Array:
        out: jax.Array = jax.pure_callback(
            run_solve, out_spec, u0, t, p, vmap_method="broadcast_all"
        )
        return out

    def fwd(u0: jax.Array, t: jax.Array, p: jax.Array) -> tuple[jax.Array, tuple[Any, ...]]:
        u, token = jax.pure_callback(
            forward_cb, (out_spec, token_spec), u0, t, p, vmap_method="broadcast_all"
        )
        return u, (token, u0, t, p, u)

    def bwd(res: tuple[Any, ...], cotangent: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        token, u0, t, p, u = res
        specs = (
            jax.ShapeDtypeStruct(u0.shape, work),
            jax.ShapeDtypeStruct(t.shape, work),
            jax.ShapeDtypeStruct(p.shape, work),
        )
        grads: tuple[jax.Array, jax.Array, jax.Array] = jax.pure_callback(
            backward_cb, specs, token, u0, t, p, u, cotangent, vmap_method="broadcast_all"
        )
        return grads

    solve_fn.defvjp(fwd, bwd)
    return solve_fn
