"""The front end that ``bridge.torch.odeint`` and ``bridge.jax.odeint`` share.

Both mean the same thing by ``odeint(rhs_or_problem, u0, t, p, alg=..., sensealg=...,
backend=..., **solver_options)``: the same signature, defaults, checks and failure wording,
written once here. The adapters keep only what is theirs: converting tensors to and from
NumPy, and the autograd glue (``torch.autograd.Function``, ``jax.custom_vjp``).

``prepare_odeint`` checks everything that does not need the values (names, options, sizes,
the problem template, which is traced once per function and size); ``check_values`` checks
the values when they are concrete (JAX under ``jit`` passes abstract tracers); an
``Odeint`` then solves at given ``(u0, p, t)`` (``solve_at``) or solves and returns a
pullback (``vjp_at``), and gives the cotangent of the save times (``t_cotangent``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._algorithms import check_alg, check_sensealg
from ._errors import BridgeTypeError, BridgeValueError, GradientUnavailableError, SolveFailedError
from ._model import FloatArray, unflatten_params
from ._problem import ODEProblem
from ._solution import Gradients
from ._validate import as_float_vector, check_options

#: The keyword options ``odeint`` passes on to ``bridge.vjp``.
SOLVER_OPTIONS = ("reltol", "abstol", "maxiters", "events", "tstops")

__all__ = [
    "SOLVER_OPTIONS",
    "Odeint",
    "check_times",
    "check_values",
    "default_inputs",
    "prepare_odeint",
]


def check_solver_options(options: dict[str, Any], where: str) -> dict[str, Any]:
    """Refuse keyword options ``bridge.vjp`` would not understand, naming the valid ones.

    Example
    -------
    >>> check_solver_options({"reltol": 1e-8}, "odeint")
    {'reltol': 1e-08}
    """
    unknown = sorted(set(options) - set(SOLVER_OPTIONS))
    if "saveat" in unknown:
        raise BridgeTypeError(
            f"{where}() takes no saveat: the solution is saved at the times t you pass "
            "(tspan is (t[0], t[-1]))"
        )
    if unknown:
        raise BridgeTypeError(
            f"{where}() got unknown solver option(s) {', '.join(map(repr, unknown))}; "
            f"valid options: {', '.join(SOLVER_OPTIONS)}"
        )
    return options


def check_times(t: Any, name: str = "t") -> FloatArray:
    """Save times for ``odeint``: finite, 1-D, at least two, strictly monotone.

    Example
    -------
    >>> check_times([0.0, 0.5, 1.0])
    array([0. , 0.5, 1. ])
    """
    ts = as_float_vector(t, name)
    if ts.shape[0] < 2:
        raise BridgeValueError(
            f"{name} must hold at least two times (tspan is ({name}[0], {name}[-1])), got {ts!r}"
        )
    steps = np.diff(ts) * np.sign(ts[-1] - ts[0])
    if ts[-1] == ts[0] or (steps <= 0).any():
        i = int(np.argmax(steps <= 0))
        a, b = float(ts[i]), float(ts[i + 1])
        raise BridgeValueError(
            f"{name} must be strictly increasing (or strictly decreasing, to integrate "
            f"backwards), but {name}[{i}] = {a!r} and {name}[{i + 1}] = {b!r}"
        )
    return ts


def default_inputs(rhs_or_problem: Any, u0: Any, p: Any) -> tuple[Any, Any]:
    """``u0`` and ``p``, with an ODEProblem's own values where the caller passed None.

    Example
    -------
    >>> prob = ODEProblem(lambda u, p, t: -u, [1.0], (0.0, 1.0))
    >>> default_inputs(prob, None, None)
    (array([1.]), array([], dtype=float64))
    """
    if isinstance(rhs_or_problem, ODEProblem):
        # copies: the problem's arrays are read-only, and torch warns on wrapping those
        u0 = rhs_or_problem.u0.copy() if u0 is None else u0
        p = rhs_or_problem.p.copy() if p is None else p
    return u0, (np.zeros(0) if p is None else p)


def check_values(u0: Any, p: Any, t: Any) -> None:
    """Value checks of concrete inputs (finite u0 and p, proper save times t).

    Example
    -------
    >>> check_values(np.ones(2), np.zeros(0), np.array([0.0, np.nan]))
    Traceback (most recent call last):
    ...
    bridge._errors.BridgeValueError: t must be finite, but entry 1 is nan
    """
    as_float_vector(u0, "u0")
    as_float_vector(p, "p", allow_empty=True)
    check_times(t)


def _template(rhs_or_problem: Any, n_states: int, n_params: int, where: str) -> ODEProblem:
    """The ODEProblem that each call remakes, its model traced.

    A Python function is traced once per function and size (``trace_model`` caches it), so
    an optimisation loop traces nothing after the first step.
    """
    if isinstance(rhs_or_problem, ODEProblem):
        prob = rhs_or_problem
        if prob.n_states != n_states:
            raise BridgeValueError(
                f"u0 has length {n_states}, but the problem {prob.name!r} has "
                f"{prob.n_states} states"
            )
        if prob.n_params != n_params:
            raise BridgeValueError(
                f"p has length {n_params}, but the problem {prob.name!r} has "
                f"{prob.n_params} parameters (flattened)"
            )
    elif callable(rhs_or_problem):
        prob = ODEProblem(rhs_or_problem, np.zeros(n_states), (0.0, 1.0), np.zeros(n_params))
    else:
        raise BridgeTypeError(
            f"{where}() needs a right-hand side f(u, p, t) or a bridge.ODEProblem as its first "
            f"argument, got {type(rhs_or_problem).__name__}"
        )
    if not prob.is_julia:
        prob.model  # noqa: B018  (trace now, on the template, so every remake shares it)
    return prob


def _check_rows(sol: Any, t: FloatArray) -> None:
    """A terminal event ends the solve early: odeint returns u at every time of t, or fails."""
    if len(sol.t) != len(t):
        raise BridgeValueError(
            f"the solve ended before t[-1] = {float(t[-1])!r} ({sol.message}), so u at "
            f"{len(t) - len(sol.t)} of the times t is missing, but odeint returns u at every "
            "time of t: end t before the terminal event, or make the event non-terminal"
        )


@dataclass(frozen=True)
class Odeint:
    """One ``odeint`` set-up: the problem template and the options every solve uses."""

    template: ODEProblem
    alg: str
    sensealg: str
    backend: str | None
    solver_options: dict[str, Any]
    #: Where a batch's members run (``bridge.solve``'s ``ensemble=``).
    ensemble: Any = "serial"

    def problem(self, u0: FloatArray, p: FloatArray, t: FloatArray) -> ODEProblem:
        """The template with this call's u0, flat p and tspan (t[0], t[-1])."""
        spec = self.template.param_spec
        params: Any = unflatten_params(p, spec) if spec else p
        return self.template.remake(u0=u0, p=params, tspan=(float(t[0]), float(t[-1])))

    def solve_at(self, u0: FloatArray, p: FloatArray, t: FloatArray) -> FloatArray:
        """u at the times t (nt, n); raises SolveFailedError when the solve fails."""
        from ._api import solve

        t = check_times(t)
        sol = solve(
            self.problem(u0, p, t),
            self.alg,
            saveat=t,
            backend=self.backend,
            **self.solver_options,
        )
        if not sol.success:
            raise SolveFailedError.of(sol.retcode, f"u at the times t up to {t[-1]!r} is missing")
        _check_rows(sol, t)
        return sol.u

    def vjp_at(
        self, u0: FloatArray, p: FloatArray, t: FloatArray
    ) -> tuple[ODEProblem, FloatArray, Callable[[FloatArray], Gradients]]:
        """The problem, u at the times t, and the pullback of the solve."""
        from ._api import vjp

        t = check_times(t)
        prob = self.problem(u0, p, t)
        sol, pullback = vjp(
            prob,
            self.alg,
            saveat=t,
            sensealg=self.sensealg,
            backend=self.backend,
            **self.solver_options,
        )
        _check_rows(sol, t)
        return prob, sol.u, pullback

    def _member_by_member(self) -> bool:
        """Whether a batch runs as a loop of single solves: ensembles do not take events
        yet (``bridge._api._options``)."""
        return bool(self.solver_options.get("events"))

    def _ensemble(self, U0: FloatArray, P: FloatArray, t: FloatArray) -> Any:
        from ._ensemble import EnsembleProblem

        base = self.template.remake(tspan=(float(t[0]), float(t[-1])))
        return EnsembleProblem(base, u0=U0, p=P)

    def _kwargs(self, t: FloatArray) -> dict[str, Any]:
        return {
            "saveat": t,
            "backend": self.backend,
            "ensemble": self.ensemble,
            **self.solver_options,
        }

    def solve_batch(self, U0: FloatArray, P: FloatArray, t: FloatArray) -> FloatArray:
        """u (B, nt, n) of a batch of B members (rows of U0 and P), solved as one ensemble.

        Raises SolveFailedError naming the members whose solve failed.
        """
        from ._api import solve

        t = check_times(t)
        if self._member_by_member():
            return np.stack([self.solve_at(U0[i], P[i], t) for i in range(len(U0))])
        esol = solve(self._ensemble(U0, P, t), self.alg, **self._kwargs(t))
        _require_members(esol)
        return esol.u

    def vjp_batch(
        self, U0: FloatArray, P: FloatArray, t: FloatArray
    ) -> tuple[FloatArray, Callable[[FloatArray], Gradients]]:
        """u (B, nt, n) and the batched pullback: (B, nt, n) -> Gradients((B, n), (B, m))."""
        from ._api import vjp

        t = check_times(t)
        if self._member_by_member():
            done = [self.vjp_at(U0[i], P[i], t) for i in range(len(U0))]

            def members_pullback(cotangent: FloatArray) -> Gradients:
                gs = [pb(cotangent[i]) for i, (_, _, pb) in enumerate(done)]
                return Gradients(u0=np.stack([g.u0 for g in gs]), p=np.stack([g.p for g in gs]))

            return np.stack([u for _, u, _ in done]), members_pullback
        esol, pullback = vjp(
            self._ensemble(U0, P, t), self.alg, sensealg=self.sensealg, **self._kwargs(t)
        )
        _require_members(esol)
        return esol.u, pullback

    def t_cotangent_batch(
        self,
        U0: FloatArray,
        P: FloatArray,
        t: FloatArray,
        u: FloatArray,
        cotangent: FloatArray,
        grad_u0: FloatArray,
    ) -> FloatArray:
        """dL/dt_i per member (B, nt) for save times shared by a batch (``t_cotangent`` each)."""
        out = np.empty((len(U0), len(t)))
        for i in range(len(U0)):
            prob = self.problem(U0[i], P[i], t)
            out[i] = self.t_cotangent(prob, t, u[i], cotangent[i], grad_u0[i])
        return out

    @staticmethod
    def t_cotangent(
        prob: ODEProblem, t: FloatArray, u: FloatArray, cotangent: FloatArray, grad_u0: FloatArray
    ) -> FloatArray:
        """dL/dt for the save times, given dL/du (``cotangent``) and the pullback's dL/du0.

        A saved state moves with its own time, ``du_i/dt_i = f(u_i, p, t_i)`` (i >= 1); moving
        the start ``t[0]`` shifts the whole trajectory, ``du_i/dt_0 = -Φ(t_i, t_0) f(u0, p,
        t0)``, whose sum over i is the pullback's dL/du0 less the direct term of ``u_0 = u0``.

        Raises GradientUnavailableError for a Julia right-hand side (f is not callable here).
        """
        if prob.is_julia or not prob.model.has_derivatives:
            raise GradientUnavailableError(
                f"the gradient with respect to t needs f in Python, which problem {prob.name!r} "
                "does not have; do not differentiate with respect to t"
            )
        model, p = prob.model, prob.p
        f = np.empty_like(u)
        f[0] = model.f(prob.u0, p, float(t[0]))
        for i in range(1, len(t)):
            f[i] = model.f(u[i], p, float(t[i]))
        out: FloatArray = np.einsum("ij,ij->i", cotangent, f)
        out[0] = -np.dot(grad_u0 - cotangent[0], f[0])
        return out


def _require_members(esol: Any) -> None:
    failed = esol.failed
    if failed:
        shown = ", ".join(f"{i} ({esol.retcodes[i]})" for i in failed[:5])
        raise SolveFailedError(
            f"{len(failed)} of {len(esol)} members of the batch did not succeed ({shown}), so "
            "u at the times t is missing for them; fix the problem (tolerances, maxiters, alg)",
            retcode=esol.retcodes[failed[0]],
        )


def prepare_odeint(
    rhs_or_problem: Any,
    n_states: int,
    n_params: int,
    *,
    alg: str,
    sensealg: str,
    backend: str | None,
    solver_options: dict[str, Any],
    where: str = "odeint",
    ensemble: Any = "serial",
) -> Odeint:
    """Check what ``odeint`` was given (everything but the values) and trace the template.

    Example
    -------
    >>> call = prepare_odeint(lambda u, p, t: -p[0] * u, 1, 1, alg="Tsit5", sensealg="auto",
    ...                       backend="reference", solver_options={"reltol": 1e-8})
    >>> call.solve_at(np.ones(1), np.ones(1), np.array([0.0, 1.0])).shape
    (2, 1)
    """
    check_solver_options(solver_options, where)
    check_alg(alg)
    check_sensealg(sensealg)
    opts = {"reltol": 1e-3, "abstol": 1e-6, "maxiters": 1, **solver_options}
    check_options((0.0, 1.0), None, opts["reltol"], opts["abstol"], opts["maxiters"])
    if n_states == 0:
        raise BridgeValueError("u0 must not be empty")
    template = _template(rhs_or_problem, n_states, n_params, where)
    return Odeint(template, alg, sensealg, backend, dict(solver_options), ensemble)
