"""One adapter per tool being compared: bridge itself and the peers a user would pick instead.

Each adapter says whether it can run here (``unavailable()`` returns the reason it cannot,
e.g. the package is not installed or there is no Julia), whether it supports a problem
(``unsupported(prob)``), and builds a ``Runner`` whose ``forward()`` and ``gradient()`` the
harness times. Every tool gets the problem's own tolerances and save times; the method each
one uses is shown in the table.

Heavy imports (torch, jax, diffeqpy) happen inside ``setup`` so that a missing package only
skips its own rows.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .problems import Problem

FloatArray = np.ndarray


@dataclass
class Forward:
    """What one forward solve returns: states at the save times and RHS evaluations."""

    u: FloatArray
    nf: int | None


@dataclass
class Grad:
    """What one gradient of Σ u² returns (``nf``: RHS evaluations where the tool says)."""

    u0: FloatArray
    p: FloatArray
    nf: int | None = None


@dataclass
class Runner:
    """A tool set up for one problem.

    ``gradient`` is None when the tool has no gradient for it (``grad_note`` says why).
    ``method`` and ``grad_method`` name what actually ran, for the table.
    """

    forward: Callable[[], Forward]
    gradient: Callable[[], Grad] | None
    method: str
    grad_method: str
    grad_note: str = ""
    #: Counts the RHS evaluations of one forward solve when ``forward`` cannot (untimed).
    count_nf: Callable[[], int] | None = None


def _installed(module: str, dist: str | None = None) -> str | None:
    """None when ``module`` can be imported, else the reason it cannot (no import happens)."""
    if importlib.util.find_spec(module) is None:
        return f"{dist or module} is not installed"
    return None


def version_of(dist: str) -> str | None:
    """The installed version of a distribution, or None."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


class Adapter:
    """Base class: a named tool with availability and per-problem support checks."""

    name = "?"
    #: Distributions whose versions the results record.
    dists: tuple[str, ...] = ()
    #: Another tool whose forward solve is this one's too: when that one runs past the time
    #: limit, this one is not tried (it would spend the same time to learn the same thing).
    same_forward_as: str | None = None

    def unavailable(self) -> str | None:
        """Why this tool cannot run on this machine, or None."""
        return None

    def unsupported(self, prob: Problem) -> str | None:
        """Why this tool cannot solve ``prob`` at its tolerances, or None."""
        return None

    def setup(self, prob: Problem) -> Runner:
        raise NotImplementedError


# --- bridge --------------------------------------------------------------------------------


class BridgeAdapter(Adapter):
    """bridge itself, on one backend: ``solve`` for the forward, ``vjp`` + pullback for the
    gradient (sensealg ``auto``: forward sensitivities when n + m ≤ 100, else an adjoint)."""

    dists = ("numpy", "scipy", "sympy")

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.name = f"bridge[{backend}]"

    def unavailable(self) -> str | None:
        try:
            import bridge
        except ImportError as exc:
            return f"bridge does not import: {exc}"
        if self.backend == "diffsol":
            from bridge import _diffsol

            reason = _diffsol.availability()
            if reason is not None:
                return reason
        if self.backend == "julia":
            from bridge import _julia

            st = _julia.status()
            if not st.usable:
                return f"no usable Julia ({st.reason})"
            return None
        # The backends are being built in parallel; until tracing and the reference backend
        # can solve a one-line problem the harness reports why instead of crashing.
        try:
            prob = bridge.ODEProblem(lambda u, p, t: -p[0] * u, [1.0], (0.0, 1.0), [1.0])
            bridge.solve(prob, "Tsit5", saveat=[1.0], backend=self.backend)
        except Exception as exc:
            return f"bridge.solve does not work yet: {type(exc).__name__}: {exc}"
        return None

    def setup(self, prob: Problem) -> Runner:
        import bridge

        bprob = bridge.ODEProblem(prob.f, prob.u0, prob.tspan, prob.bridge_p, name=prob.name)
        kw: dict[str, Any] = dict(
            saveat=prob.saveat, reltol=prob.rtol, abstol=prob.atol, backend=self.backend
        )
        labels: dict[str, str] = {}

        def forward() -> Forward:
            sol = bridge.solve(bprob, prob.alg, **kw)
            labels["alg"] = sol.alg
            return Forward(np.asarray(sol.u), int(sol.stats.nf))

        def gradient() -> Grad:
            sol, pullback = bridge.vjp(bprob, prob.alg, **kw)
            g = pullback(2.0 * np.asarray(sol.u))
            return Grad(np.asarray(g.u0), np.asarray(g.p), None)

        return Runner(forward, gradient, method=prob.alg, grad_method="vjp, sensealg=auto")


# --- pydiffsol, by hand --------------------------------------------------------------------


class PydiffsolAdapter(Adapter):
    """pydiffsol used directly, as its documentation shows: the problem's hand-written DiffSL
    (``Problem.diffsl``), the same diffsol method bridge maps the algorithm to, the same
    tolerances; ``solve_dense`` at the save times. The gradient takes the same route as
    bridge's ``sensealg="auto"`` on diffsol (forward sensitivities up to
    ``bridge._diffsol.methods.FORWARD_MAX_INPUTS`` inputs, else the discrete adjoint), with
    the sensitivity (or parameter-quadrature) tolerances set to the solve's, so that the
    bridge[diffsol]/pydiffsol ratio is bridge's overhead. Compiling happens in setup."""

    name = "pydiffsol (hand-written)"
    dists = ("pydiffsol",)

    def unavailable(self) -> str | None:
        missing = _installed("pydiffsol")
        if missing:
            return missing
        import pydiffsol

        if pydiffsol.default_enabled_jit_backend() is None:
            return "this pydiffsol build has no JIT backend"
        return None

    def unsupported(self, prob: Problem) -> str | None:
        return None if prob.diffsl else "no hand-written DiffSL for this problem"

    def setup(self, prob: Problem) -> Runner:
        import pydiffsol as ds

        from bridge._diffsol.methods import FORWARD_MAX_INPUTS, METHODS, gradient_method

        method = METHODS[prob.alg]
        ode = ds.Ode(prob.diffsl, matrix_type=ds.nalgebra_dense)
        ode.ode_solver = getattr(ds, method)
        ode.rtol, ode.atol = prob.rtol, prob.atol
        ode.t0 = prob.tspan[0]
        params = np.concatenate([prob.p, prob.u0])
        ts = np.ascontiguousarray(prob.saveat)
        n, m = prob.n_states, prob.n_params
        forward_mode = n + m <= FORWARD_MAX_INPUTS

        def forward() -> Forward:
            sol = ode.solve_dense(params, ts)
            return Forward(np.ascontiguousarray(sol.ys.T), None)

        def gradient() -> Grad:
            if forward_mode:
                ode.sens_rtol, ode.sens_atol = prob.rtol, prob.atol
                sol = ode.solve_fwd_sens(params, ts)
                two_u = 2.0 * sol.ys
                g = np.array([np.sum(two_u * s) for s in sol.sens])
            else:
                ode.ode_solver = getattr(ds, gradient_method(method, "adjoint")[0])
                ode.param_rtol, ode.param_atol = prob.rtol, prob.atol
                sol, checkpoint = ode.solve_adjoint_fwd(params, ts)
                g = np.ravel(ode.solve_adjoint_bkwd(sol, checkpoint, 2.0 * sol.ys))
                ode.ode_solver = getattr(ds, method)
            return Grad(g[m:], g[:m], None)

        return Runner(
            forward,
            gradient,
            method=method,
            grad_method="forward sensitivities" if forward_mode else "discrete adjoint",
        )


# --- SciPy ---------------------------------------------------------------------------------


def scipy_method_for(prob: Problem) -> str:
    """The SciPy method bridge's reference backend maps ``prob.alg`` to, so that the SciPy
    row isolates what bridge adds (tracing, generated code, analytic Jacobians) from the
    choice of integrator."""
    try:
        from bridge import ALGORITHMS

        method = ALGORITHMS[prob.alg].scipy_method
    except Exception:  # bridge absent or renamed: fall back to the documented mapping
        method = "Radau" if prob.stiff else "DOP853"
    return "LSODA" if method == "auto" else method


class ScipyAdapter(Adapter):
    """``scipy.integrate.solve_ivp`` with the plain Python RHS (no Jacobian given, as a user
    would call it); gradients by one-sided finite differences, n + m + 1 solves."""

    name = "scipy solve_ivp"
    dists = ("scipy",)

    def unavailable(self) -> str | None:
        return _installed("scipy")

    def setup(self, prob: Problem) -> Runner:
        from scipy.integrate import solve_ivp

        method = scipy_method_for(prob)
        pb = prob.bridge_p

        def solve(u0: FloatArray, p_user: Any) -> Any:
            def fun(t: float, y: FloatArray) -> Any:
                return prob.f(y, p_user, t)

            return solve_ivp(
                fun,
                prob.tspan,
                u0,
                method=method,
                t_eval=prob.saveat,
                rtol=prob.rtol,
                atol=prob.atol,
            )

        def forward() -> Forward:
            sol = solve(prob.u0, pb)
            if sol.status != 0:
                raise RuntimeError(f"solve_ivp failed: {sol.message}")
            return Forward(np.ascontiguousarray(sol.y.T), int(sol.nfev))

        def gradient() -> Grad:
            theta = np.concatenate([prob.u0, prob.p])
            n = prob.n_states
            total_nf = 0

            def lossf(th: FloatArray) -> float:
                nonlocal total_nf
                sol = solve(th[:n], _unflatten_like(th[n:], pb))
                total_nf += int(sol.nfev)
                return float(np.sum(sol.y**2))

            base = lossf(theta)
            # Step ~ sqrt(rtol) scaled by the entry: the usual balance of truncation
            # against the solver's own tolerance-sized noise.
            h = np.sqrt(prob.rtol) * np.maximum(np.abs(theta), 1.0)
            g = np.empty_like(theta)
            for i in range(theta.size):
                th = theta.copy()
                th[i] += h[i]
                g[i] = (lossf(th) - base) / h[i]
            return Grad(g[:n], g[n:], total_nf)

        return Runner(forward, gradient, method=method, grad_method="finite differences")


def _unflatten_like(flat: FloatArray, like: Any) -> Any:
    """``flat`` in the layout of ``like`` (a flat vector or a dict of named arrays)."""
    if not isinstance(like, dict):
        return flat
    out, start = {}, 0
    for key, value in like.items():
        size = int(np.size(value))
        out[key] = flat[start : start + size].reshape(np.shape(value))
        start += size
    return out


# --- diffrax -------------------------------------------------------------------------------


class DiffraxAdapter(Adapter):
    """diffrax under ``jax.jit`` in float64: Tsit5 (Kvaerno5 for stiff problems), a PID step
    controller at the same rtol/atol, gradients with ``jax.grad`` through its default
    ``RecursiveCheckpointAdjoint`` (differentiating the discrete solve)."""

    name = "diffrax"
    dists = ("diffrax", "jax", "jaxlib", "equinox")

    def unavailable(self) -> str | None:
        return _installed("diffrax")

    def setup(self, prob: Problem) -> Runner:
        import jax

        # Float64 is a process-wide switch in JAX; every tool here runs in float64.
        jax.config.update("jax_enable_x64", True)
        import diffrax
        import jax.numpy as jnp

        solver = diffrax.Kvaerno5() if prob.stiff else diffrax.Tsit5()
        method = type(solver).__name__
        ts = jnp.asarray(prob.saveat)
        t0, t1 = prob.tspan

        def solve(u0: Any, p: Any, term: Any) -> Any:
            return diffrax.diffeqsolve(
                term,
                solver,
                t0,
                t1,
                dt0=None,
                y0=u0,
                args=p,
                saveat=diffrax.SaveAt(ts=ts),
                stepsize_controller=diffrax.PIDController(rtol=prob.rtol, atol=prob.atol),
                max_steps=1_000_000,
            )

        term = diffrax.ODETerm(lambda t, y, args: prob.f_xp(y, args, t, jnp))

        @jax.jit
        def fwd(u0: Any, p: Any) -> Any:
            sol = solve(u0, p, term)
            return sol.ys, sol.stats["num_steps"]

        @jax.jit
        def grad(u0: Any, p: Any) -> Any:
            return jax.grad(lambda a, b: jnp.sum(solve(a, b, term).ys ** 2), argnums=(0, 1))(u0, p)

        u0 = jnp.asarray(prob.u0)
        p = jnp.asarray(prob.p)

        def forward() -> Forward:
            ys, _ = fwd(u0, p)
            return Forward(np.asarray(jax.block_until_ready(ys)), None)

        def gradient() -> Grad:
            gu, gp = jax.block_until_ready(grad(u0, p))
            return Grad(np.asarray(gu), np.asarray(gp), None)

        return Runner(
            forward,
            gradient,
            method=method,
            grad_method="jax.grad (checkpointed)",
            count_nf=lambda: _diffrax_count_nf(prob, solve, u0, p),
        )


def _diffrax_count_nf(prob: Problem, solve: Callable[..., Any], u0: Any, p: Any) -> int:
    """RHS evaluations of one diffrax solve, counted by a host callback in a separate
    (untimed) compile: diffrax's stats hold steps, not evaluations, and implicit solvers
    spend a varying number per step."""
    import diffrax
    import jax
    import jax.numpy as jnp

    calls = [0]

    def bump() -> None:
        calls[0] += 1

    def vf(t: Any, y: Any, args: Any) -> Any:
        jax.debug.callback(bump)
        return prob.f_xp(y, args, t, jnp)

    jax.block_until_ready(jax.jit(lambda a, b: solve(a, b, diffrax.ODETerm(vf)).ys)(u0, p))
    jax.effects_barrier()
    return calls[0]


# --- torchdiffeq ---------------------------------------------------------------------------


class TorchdiffeqAdapter(Adapter):
    """torchdiffeq in float64 with dopri5 (its default adaptive method): ``odeint``
    (backpropagation through the solver's operations) or ``odeint_adjoint`` (continuous
    adjoint, O(1) memory)."""

    dists = ("torchdiffeq", "torch")

    def __init__(self, adjoint: bool) -> None:
        self.adjoint = adjoint
        self.name = "torchdiffeq " + ("odeint_adjoint" if adjoint else "odeint")
        # odeint_adjoint's forward pass is odeint's solve (under no_grad).
        self.same_forward_as = "torchdiffeq odeint" if adjoint else None

    def unavailable(self) -> str | None:
        return _installed("torchdiffeq")

    def unsupported(self, prob: Problem) -> str | None:
        if prob.stiff:
            return "torchdiffeq has no implicit adaptive solver; dopri5 would need ~1e8 steps"
        return None

    def setup(self, prob: Problem) -> Runner:
        import torch
        import torchdiffeq

        odeint = torchdiffeq.odeint_adjoint if self.adjoint else torchdiffeq.odeint

        class Field(torch.nn.Module):
            """The vector field; counts its calls (cheap next to torch's per-op cost)."""

            def __init__(self, p: Any) -> None:
                super().__init__()
                self.p = torch.nn.Parameter(p)
                self.nf = 0

            def forward(self, t: Any, y: Any) -> Any:
                self.nf += 1
                return prob.f_xp(y, self.p, t, torch)

        ts = torch.tensor(prob.saveat, dtype=torch.float64)
        kw: dict[str, Any] = dict(rtol=prob.rtol, atol=prob.atol, method="dopri5")

        def forward() -> Forward:
            field = Field(torch.tensor(prob.p, dtype=torch.float64))
            with torch.no_grad():
                ys = odeint(field, torch.tensor(prob.u0, dtype=torch.float64), ts, **kw)
            return Forward(ys.numpy().copy(), field.nf)

        def gradient() -> Grad:
            field = Field(torch.tensor(prob.p, dtype=torch.float64))
            y0 = torch.tensor(prob.u0, dtype=torch.float64, requires_grad=True)
            ys = odeint(field, y0, ts, **kw)
            torch.sum(ys**2).backward()
            assert y0.grad is not None and field.p.grad is not None
            return Grad(y0.grad.numpy().copy(), field.p.grad.numpy().copy(), field.nf)

        grad_method = "continuous adjoint" if self.adjoint else "backprop through solver"
        return Runner(forward, gradient, method="dopri5", grad_method=grad_method)


# --- diffeqpy ------------------------------------------------------------------------------


class DiffeqpyAdapter(Adapter):
    """diffeqpy (DifferentialEquations.jl through juliacall) with the Python RHS called back
    per evaluation, or with ``de.jit`` (ModelingToolkit turns it into compiled Julia).
    diffeqpy has no gradient API, so it has no gradient rows."""

    dists = ("diffeqpy", "juliacall")

    def __init__(self, jit: bool) -> None:
        self.jit = jit
        self.name = "diffeqpy" + (" de.jit" if jit else " (Python RHS)")

    def unavailable(self) -> str | None:
        missing = _installed("diffeqpy")
        if missing:
            return missing
        # Check for Julia offline first: importing diffeqpy without one starts a download.
        from bridge import _julia

        st = _julia.status()
        return None if st.usable else f"no usable Julia ({st.reason})"

    def setup(self, prob: Problem) -> Runner:
        from diffeqpy import de

        pb = prob.bridge_p

        def f(u: Any, p: Any, t: Any) -> Any:
            # Read p from the argument (not the closure) so that de.jit, which calls f with
            # symbolic arrays, sees the parameters; only named layouts need reshaping.
            return prob.f(u, _unflatten_like(np.asarray(p), pb) if isinstance(pb, dict) else p, t)

        dprob = de.ODEProblem(f, prob.u0, prob.tspan, prob.p)
        if self.jit:
            dprob = de.jit(dprob)
        alg = getattr(de, prob.alg)()

        def forward() -> Forward:
            sol = de.solve(dprob, alg, saveat=prob.saveat, reltol=prob.rtol, abstol=prob.atol)
            return Forward(np.asarray([np.asarray(x) for x in sol.u]), int(sol.stats.nf))

        return Runner(
            forward,
            None,
            method=prob.alg,
            grad_method="",
            grad_note="diffeqpy has no gradient API",
        )


def all_adapters() -> list[Adapter]:
    """Every tool, bridge's backends first (the table's ratios are bridge/peer)."""
    return [
        BridgeAdapter("julia"),
        BridgeAdapter("diffsol"),
        BridgeAdapter("reference"),
        PydiffsolAdapter(),
        ScipyAdapter(),
        DiffraxAdapter(),
        TorchdiffeqAdapter(adjoint=False),
        TorchdiffeqAdapter(adjoint=True),
        DiffeqpyAdapter(jit=False),
        DiffeqpyAdapter(jit=True),
    ]
