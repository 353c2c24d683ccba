"""Differentiable ODE solves in PyTorch: ``odeint`` is a ``torch.autograd.Function``.

Its forward calls ``bridge.vjp`` (save times ``t``, ``tspan = (t[0], t[-1])``) and its backward
calls the pullback with ``grad_output``, so any loss written in torch gets the backend's
gradients for ``u0`` and ``p`` (and for ``t``: see ``odeint``).

Importing this module imports torch; ``import bridge`` never does. When the Julia backend
would be used (Julia is usable and the backend is not forced to ``"reference"``), Julia is
started *before* torch is imported, because juliacall documents crashes with the other
order; if torch was already imported by then, a ``RuntimeWarning`` says so.

Dtypes and copies: the solve runs in float64. float64 CPU tensors cross to the solver
without a copy (a non-contiguous one is copied once); float32 (and other floating or
integer) inputs are cast to float64 once, and the result and gradients are cast back to
the inputs' floating dtype (float64 for integer inputs). The returned tensor shares memory
with the solver's output array; it is saved for backward, so editing it (or u0, p, t) in
place before ``backward()`` makes autograd refuse, rather than silently use changed values.
Tensors must live on the CPU.

Batches: a 2-D ``u0`` (B, n) and/or ``p`` (B, m) is one ensemble of B members
(``bridge.EnsembleProblem``), run where ``ensemble=`` says, returning (B, len(t), n).
Limits: no double backward (the backward is ``once_differentiable``); ``torch.func``
transforms (``vmap``, ``jacrev``) are not supported. ``t.requires_grad`` is supported.

Example
-------
>>> import torch
>>> from bridge.torch import odeint
>>> def decay(u, p, t):
...     return -p[0] * u
>>> p = torch.tensor([0.5], dtype=torch.float64, requires_grad=True)
>>> u = odeint(decay, torch.tensor([1.0], dtype=torch.float64), torch.tensor([0.0, 1.0]), p,
...            reltol=1e-10, abstol=1e-10, backend="reference")
>>> u[-1, 0].backward()
>>> round(p.grad.item(), 6)  # d/dp e^{-p} = -e^{-p}
-0.606531
"""

from __future__ import annotations

import itertools
import sys
import warnings
from typing import Any


def _start_julia_before_torch() -> None:
    from . import _julia
    from ._backend import choose_backend
    from ._errors import BridgeError

    try:
        runs = choose_backend(None, warn=False).name
    except BridgeError:
        return  # a bad or unavailable BRIDGE_BACKEND is reported by the first solve
    if runs != "julia" or _julia.started():
        return
    if "torch" in sys.modules:
        warnings.warn(
            "bridge.torch: torch was imported before Julia started; juliacall documents "
            "crashes with this order. Import bridge.torch before anything imports torch (it "
            "starts Julia first), or set BRIDGE_BACKEND to another engine (diffsol, reference).",
            RuntimeWarning,
            stacklevel=3,
        )
        return
    try:
        _julia.jl()
    except BridgeError as exc:  # Julia looked usable but did not start: solves will say why
        warnings.warn(f"bridge.torch: could not start Julia before torch: {exc}", stacklevel=3)


_start_julia_before_torch()

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.autograd.function import once_differentiable  # noqa: E402

from ._errors import BridgeTypeError, BridgeValueError  # noqa: E402
from ._odeint import Odeint, check_solver_options, check_values, default_inputs  # noqa: E402
from ._odeint import prepare_odeint as _prepare  # noqa: E402

__all__ = ["NeuralODE", "mlp_rhs", "odeint"]


def _as_tensor(x: Any, name: str, batch: bool = False) -> torch.Tensor:
    """A CPU, real, 1-D tensor (2-D with ``batch``); array-likes are converted."""
    if not isinstance(x, torch.Tensor):
        try:
            x = torch.as_tensor(np.asarray(x))
        except Exception as exc:
            raise BridgeTypeError(
                f"{name} must be a torch.Tensor or array of real numbers, got {x!r}"
            ) from exc
    if x.device.type != "cpu":
        raise BridgeValueError(
            f"{name} is on device {x.device}, but bridge.torch solves on the CPU: pass "
            f"{name}.cpu() (the result comes back on the CPU)"
        )
    if x.is_complex() or x.dtype == torch.bool:
        raise BridgeTypeError(f"{name} must hold real numbers, got dtype {x.dtype}")
    if x.ndim != 1 and not (batch and x.ndim == 2):
        raise BridgeValueError(
            f"{name} must be a 1-D tensor"
            + (" (or 2-D, one row per member of a batch)" if batch else "")
            + f", got shape {tuple(x.shape)}"
        )
    return x


def _numpy(x: torch.Tensor) -> np.ndarray:
    """A float64 NumPy view of a float64 CPU tensor (no copy)."""
    return x.detach().numpy()


def _tensor(arr: np.ndarray) -> torch.Tensor:
    """A tensor sharing ``arr``'s memory; copied once only if the backend made it read-only."""
    return torch.from_numpy(arr if arr.flags.writeable else np.array(arr))


class _Solve(torch.autograd.Function):
    """u0 (n,) or U0 (B, n), p, t (all float64) -> u (len(t), n) or (B, len(t), n);
    backward = the solve's pullback (one ensemble's for a batch)."""

    @staticmethod
    def forward(
        ctx: Any, u0: torch.Tensor, p: torch.Tensor, t: torch.Tensor, call: Odeint
    ) -> torch.Tensor:
        t_np = _numpy(t)
        if u0.ndim == 2:
            U0, P = _contiguous(u0), _contiguous(p)
            u, pullback = call.vjp_batch(U0, P, t_np)

            def t_grad(out: np.ndarray, cotangent: np.ndarray, g_u0: np.ndarray) -> np.ndarray:
                return call.t_cotangent_batch(U0, P, t_np, out, cotangent, g_u0).sum(axis=0)

        else:
            prob, u, pullback = call.vjp_at(_numpy(u0), _numpy(p), t_np)

            def t_grad(out: np.ndarray, cotangent: np.ndarray, g_u0: np.ndarray) -> np.ndarray:
                return Odeint.t_cotangent(prob, t_np, out, cotangent, g_u0)

        out = _tensor(u)
        ctx.pullback, ctx.t_grad = pullback, t_grad
        # Saved only so that autograd refuses a backward after an in-place edit of any of them
        # (the pullback and the t-gradient use the values as they were).
        ctx.save_for_backward(u0, p, t, out)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[Any, ...]:
        *_, out = ctx.saved_tensors
        cotangent = np.ascontiguousarray(_numpy(grad_output), dtype=np.float64)
        grads = ctx.pullback(cotangent)
        g_u0 = _tensor(grads.u0) if ctx.needs_input_grad[0] else None
        g_p = _tensor(grads.p) if ctx.needs_input_grad[1] else None
        g_t = None
        if ctx.needs_input_grad[2]:
            g_t = _tensor(ctx.t_grad(_numpy(out), cotangent, grads.u0))
        return g_u0, g_p, g_t, None


def odeint(
    rhs_or_problem: Any,
    u0: Any,
    t: Any,
    p: Any = None,
    *,
    alg: str = "auto",
    sensealg: str = "auto",
    backend: str | None = None,
    ensemble: Any = "serial",
    **solver_options: Any,
) -> torch.Tensor:
    """Solve ``du/dt = f(u, p, t)`` and return ``u`` at the times ``t``, differentiably.

    Parameters
    ----------
    rhs_or_problem : callable or bridge.ODEProblem
        ``f(u, p, t)`` written with NumPy functions (traced once per function and size,
        then cached; constants it closes over are frozen then, so pass changing values
        through ``p``), or an ``ODEProblem`` whose ``u0``, ``p`` and ``tspan`` are replaced
        by the arguments here (named parameters are passed flat, in the problem's order).
    u0 : Tensor, shape (n,) or (B, n)
        Initial state at ``t[0]``. With an ODEProblem, ``None`` uses ``prob.u0``. A 2-D
        ``u0`` (or ``p``) is a batch of B members solved as one ensemble (see ``ensemble``);
        the other argument, if 1-D, is shared by every member.
    t : Tensor or array_like, shape (nt,)
        Save times, strictly increasing (or decreasing), at least two; the solve runs from
        ``t[0]`` to ``t[-1]``. ``t.requires_grad`` is supported (dL/dt_i = dL/du_i·f(u_i) for
        i >= 1, and the shift of the whole trajectory for t[0]) for Python right-hand sides.
    p : Tensor, shape (m,) or (B, m), optional
        Parameters. With an ODEProblem, ``None`` uses ``prob.p``. Default: no parameters.
    alg, sensealg, backend
        As in ``bridge.vjp``.
    ensemble : {"serial", "threads", "processes"} or dask.distributed.Client
        Where a batch's members run (as in ``bridge.solve`` on an ``EnsembleProblem``).
    **solver_options
        ``reltol``, ``abstol``, ``maxiters``, as in ``bridge.solve``.

    Returns
    -------
    Tensor, shape (nt, n), or (B, nt, n) for a batch
        On the CPU, in the inputs' floating dtype (computed in float64).

    Raises
    ------
    BridgeValueError, BridgeTypeError
        Non-CPU tensors, wrong shapes or dtypes, bad times or options.
    SolveFailedError
        The solve did not succeed (its gradients would be wrong).

    Example
    -------
    >>> import torch
    >>> def lv(u, p, t):
    ...     x, y = u
    ...     return [p[0] * x - p[1] * x * y, -p[2] * y + p[3] * x * y]
    >>> p = torch.tensor([1.5, 1.0, 3.0, 1.0], dtype=torch.float64, requires_grad=True)
    >>> u = odeint(lv, torch.tensor([1.0, 1.0], dtype=torch.float64),
    ...            torch.linspace(0, 1, 5, dtype=torch.float64), p, backend="reference")
    >>> u.shape
    torch.Size([5, 2])
    >>> u.sum().backward(); p.grad.shape
    torch.Size([4])
    """
    u0, p = default_inputs(rhs_or_problem, u0, p)
    u0 = _as_tensor(u0, "u0", batch=True)
    p = _as_tensor(p, "p", batch=True)
    t = _as_tensor(t, "t")
    call = _prepare(
        rhs_or_problem,
        u0.shape[-1],
        p.shape[-1],
        alg=alg,
        sensealg=sensealg,
        backend=backend,
        solver_options=solver_options,
        ensemble=ensemble,
    )
    out_dtype = torch.promote_types(u0.dtype, p.dtype)
    if not out_dtype.is_floating_point:
        out_dtype = torch.float64
    u0_64, p_64, t_64 = (x.to(torch.float64) for x in (u0, p, t))
    wants_grad = torch.is_grad_enabled() and (
        u0.requires_grad or p.requires_grad or t.requires_grad
    )
    if u0.ndim == 2 or p.ndim == 2:
        size = u0.shape[0] if u0.ndim == 2 else p.shape[0]
        if u0.ndim == 2 and p.ndim == 2 and u0.shape[0] != p.shape[0]:
            raise BridgeValueError(
                f"u0 has {u0.shape[0]} rows (members) but p has {p.shape[0]}: a batch needs "
                "one row per member in both, or a 1-D tensor shared by every member"
            )
        # A shared 1-D argument is expanded: autograd sums its members' gradients.
        U0 = u0_64 if u0.ndim == 2 else u0_64.expand(size, -1)
        P = p_64 if p.ndim == 2 else p_64.expand(size, -1)
        for k in range(size):
            check_values(_numpy(U0[k]), _numpy(P[k]), _numpy(t_64))
        if wants_grad:
            out = _Solve.apply(U0, P, t_64, call)
        else:
            out = _tensor(call.solve_batch(_contiguous(U0), _contiguous(P), _numpy(t_64)))
    else:
        check_values(_numpy(u0_64), _numpy(p_64), _numpy(t_64))
        if wants_grad:
            out = _Solve.apply(u0_64, p_64, t_64, call)
        else:
            out = _tensor(call.solve_at(_numpy(u0_64), _numpy(p_64), _numpy(t_64)))
    return out if out_dtype == torch.float64 else out.to(out_dtype)


def _contiguous(x: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(_numpy(x))


# ------------------------------------------------------------------------------ neural ODEs

_ACTIVATIONS: dict[str, Any] = {
    "tanh": np.tanh,
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "identity": lambda x: x,
}
_MODULE_ACTIVATIONS = {"Tanh": "tanh", "Sigmoid": "sigmoid", "Identity": "identity"}


def mlp_rhs(layer_sizes: list[int] | tuple[int, ...], activation: str = "tanh") -> Any:
    """A right-hand side ``f(u, p, t)`` that is an MLP whose weights are sliced from ``p``.

    The layout of ``p`` is that of ``torch.nn.utils.parameters_to_vector`` on an
    ``nn.Sequential(Linear, act, Linear, ..., Linear)`` with these sizes: for each layer the
    weight (out, in), row-major, then the bias. The activation follows every layer but the last.

    Returns
    -------
    (f, n_params)

    Example
    -------
    >>> f, m = mlp_rhs([2, 8, 2])
    >>> m
    42
    """
    sizes = [int(s) for s in layer_sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise BridgeValueError(
            f"layer_sizes must list at least two positive sizes (in, ..., out), got {layer_sizes!r}"
        )
    if sizes[0] != sizes[-1]:
        raise BridgeValueError(
            f"an ODE right-hand side maps the state to its derivative, so the first and last "
            f"layer sizes must agree, got {sizes[0]} and {sizes[-1]}"
        )
    if activation not in _ACTIVATIONS:
        raise BridgeValueError(
            f"activation={activation!r} is not supported; choose one of "
            f"{', '.join(map(repr, _ACTIVATIONS))}"
        )
    act = _ACTIVATIONS[activation]
    layers: list[tuple[int, int, int, int]] = []  # (weight start, out, in, bias start)
    start = 0
    for n_in, n_out in itertools.pairwise(sizes):
        layers.append((start, n_out, n_in, start + n_out * n_in))
        start += n_out * n_in + n_out
    n_params = start

    def mlp(u: Any, p: Any, t: Any) -> Any:
        h = u
        for k, (w0, n_out, n_in, b0) in enumerate(layers):
            h = p[w0 : w0 + n_out * n_in].reshape(n_out, n_in) @ h + p[b0 : b0 + n_out]
            if k < len(layers) - 1:
                h = act(h)
        return h

    return mlp, n_params


class NeuralODE(torch.nn.Module):
    """A neural ODE ``du/dt = MLP(u)`` whose MLP is traced once and solved by bridge.

    Parameters
    ----------
    module_or_layer_sizes : nn.Sequential or list of int
        Either an ``nn.Sequential`` of ``nn.Linear`` layers separated by one supported
        activation module (``nn.Tanh``, ``nn.Sigmoid``), whose current weights become the
        initial parameters, or layer sizes ``[n, hidden, ..., n]`` (weights initialised as
        ``nn.Linear`` does).
    activation : str
        With layer sizes: ``"tanh"`` (default), ``"sigmoid"`` or ``"identity"``.
    **odeint_options
        Passed to ``odeint`` on every call (``alg``, ``reltol``, ``backend``...).

    The parameters live in one flat ``nn.Parameter`` ``self.p`` (layout of
    ``parameters_to_vector``); ``to_module()`` copies them back into an ``nn.Sequential``.

    Example
    -------
    >>> model = NeuralODE([2, 8, 2], backend="reference")
    >>> u = model(torch.tensor([1.0, 0.0], dtype=torch.float64), torch.linspace(0, 1, 3))
    >>> u.shape, model.p.shape
    (torch.Size([3, 2]), torch.Size([42]))
    """

    def __init__(
        self,
        module_or_layer_sizes: Any,
        activation: str = "tanh",
        **odeint_options: Any,
    ) -> None:
        super().__init__()
        if isinstance(module_or_layer_sizes, torch.nn.Module):
            sizes, activation = _describe_mlp(module_or_layer_sizes)
            init = torch.nn.utils.parameters_to_vector(module_or_layer_sizes.parameters())
        else:
            sizes = [int(s) for s in module_or_layer_sizes]
            init = None
        self.layer_sizes = sizes
        self.activation = activation
        self.rhs, n_params = mlp_rhs(sizes, activation)
        if init is None:
            init = torch.nn.utils.parameters_to_vector(self.to_module(fresh=True).parameters())
        self.p = torch.nn.Parameter(init.detach().to(torch.float64).clone())
        assert self.p.shape[0] == n_params
        check_solver_options(
            {k: v for k, v in odeint_options.items() if k not in ("alg", "sensealg", "backend")},
            "NeuralODE",
        )
        self.odeint_options = odeint_options

    def forward(self, u0: torch.Tensor, t: Any) -> torch.Tensor:
        """``u`` at the times ``t``, shape (len(t), n), from ``u0`` at ``t[0]``."""
        return odeint(self.rhs, u0, t, self.p, **self.odeint_options)

    def to_module(self, fresh: bool = False) -> torch.nn.Sequential:
        """An ``nn.Sequential`` MLP with these weights (float64), or freshly initialised ones."""
        acts = {"tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid, "identity": torch.nn.Identity}
        layers: list[torch.nn.Module] = []
        for k, (n_in, n_out) in enumerate(itertools.pairwise(self.layer_sizes)):
            if k:
                layers.append(acts[self.activation]())
            layers.append(torch.nn.Linear(n_in, n_out, dtype=torch.float64))
        seq = torch.nn.Sequential(*layers)
        if not fresh:
            with torch.no_grad():
                torch.nn.utils.vector_to_parameters(self.p.detach().clone(), seq.parameters())
        return seq


def _describe_mlp(module: torch.nn.Module) -> tuple[list[int], str]:
    """Layer sizes and activation of an nn.Sequential(Linear, act, Linear, ...) MLP."""
    children = list(module.children()) if isinstance(module, torch.nn.Sequential) else []
    linears = [c for c in children if isinstance(c, torch.nn.Linear)]
    acts = {type(c).__name__ for c in children if not isinstance(c, torch.nn.Linear)}
    shape_ok = (
        bool(linears)
        and all(isinstance(c, torch.nn.Linear) == (i % 2 == 0) for i, c in enumerate(children))
        and isinstance(children[-1], torch.nn.Linear)
        and all(lin.bias is not None for lin in linears)
    )
    if not shape_ok or len(acts) > 1 or not acts <= set(_MODULE_ACTIVATIONS):
        raise BridgeValueError(
            "NeuralODE needs an nn.Sequential of nn.Linear layers (with biases) separated by one "
            f"activation ({', '.join('nn.' + a for a in _MODULE_ACTIVATIONS)}), got {module}; "
            "or pass layer sizes"
        )
    sizes = [linears[0].in_features] + [lin.out_features for lin in linears]
    return sizes, _MODULE_ACTIVATIONS[acts.pop()] if acts else "identity"
