"""The fixed benchmark problem set: five ODEs with their tolerances, save times and RHS forms.

Every problem carries its right-hand side twice:

* ``f(u, p, t)`` — plain NumPy, written the way a bridge user would (components returned as a
  list, named parameters where that reads better). bridge traces it; the SciPy peer calls it.
* ``f_xp(u, p, t, xp)`` — the same mathematics, vectorised over an array namespace ``xp``
  (``numpy``, ``torch`` or ``jax.numpy``) with ``p`` always the flat vector. The torch and JAX
  peers use it, because a per-component list would handicap them (one tiny kernel per
  component) and no user of those libraries writes it that way.

``tests/test_bench_smoke.py`` checks that the two forms agree, so the peers solve the same ODE.

A third form, ``diffsl``, is the same right-hand side written by hand in DiffSL (the
language of diffsol, https://github.com/martinjrobins/diffsl), for the hand-written
pydiffsol peer: its inputs are p followed by u0 (``ic``), as bridge's generated DiffSL has
them, so that the two solve the same model from the same input vector.

Changing anything here changes the stored reference solutions: rerun
``python bench/run.py --recompute-references`` afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# The right-hand sides bridge solves come from the one catalogue of models (tests/models.py);
# the *_xp functions below are the peers' versions of the same models (torch, jax).
from tests.models import CHAIN_N, lorenz, lotka_volterra, robertson
from tests.models import michaelis_menten_chain as reaction_chain
from tests.models import mlp_named as neural_ode

FloatArray = np.ndarray


@dataclass(frozen=True)
class Problem:
    """One benchmark problem.

    Attributes
    ----------
    name : str
        Short identifier (also the key prefix in ``reference_solutions.npz``).
    title : str
        What the table shows.
    f : callable
        ``f(u, p, t)`` in NumPy, given ``p_bridge``; what bridge traces and SciPy calls.
    f_xp : callable
        ``f_xp(u, p, t, xp)``, vectorised, ``p`` flat; what the torch and JAX peers call.
    u0, p : ndarray
        Initial state and flat parameter vector (the gradient is taken w.r.t. both).
    p_bridge : ndarray or dict
        ``p`` as passed to ``bridge.ODEProblem`` (a dict of named arrays for the neural ODE;
        it flattens to ``p`` in the same order).
    tspan : (float, float)
    saveat : ndarray
        Save times; the loss is Σ u² over them.
    rtol, atol : float
    alg : str
        The bridge (DifferentialEquations.jl) algorithm name.
    stiff : bool
        Peers without an implicit solver skip stiff problems.
    error_tmax : float or None
        Errors are measured only at save times ≤ this (Lorenz: chaos, see ``lorenz``).
    grad_reference : bool
        Whether a reference gradient is stored (not for Lorenz, whose 100-time-unit
        sensitivities grow like e^{0.9 t} and have no meaningful tight value).
    """

    name: str
    title: str
    f: Callable[..., Any]
    f_xp: Callable[..., Any]
    u0: FloatArray
    p: FloatArray
    tspan: tuple[float, float]
    saveat: FloatArray
    rtol: float
    atol: float
    alg: str
    stiff: bool = False
    error_tmax: float | None = None
    grad_reference: bool = True
    p_bridge: Any = None
    #: The right-hand side in DiffSL, written by hand (inputs: p, then u0).
    diffsl: str = ""
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n_states(self) -> int:
        return int(self.u0.shape[0])

    @property
    def n_params(self) -> int:
        return int(self.p.shape[0])

    @property
    def bridge_p(self) -> Any:
        """The parameters in the form ``bridge.ODEProblem`` gets."""
        return self.p if self.p_bridge is None else self.p_bridge

    def error_mask(self) -> np.ndarray:
        """Which save times enter the error (all, or those ≤ ``error_tmax``)."""
        if self.error_tmax is None:
            return np.ones(self.saveat.shape, dtype=bool)
        return self.saveat <= self.error_tmax + 1e-12


def _steps(t0: float, t1: float, dt: float) -> FloatArray:
    """t0, t0+dt, ..., t1 without accumulating round-off."""
    n = round((t1 - t0) / dt)
    return t0 + dt * np.arange(n + 1, dtype=np.float64)


# --- Lotka–Volterra ------------------------------------------------------------------------


def lotka_volterra_xp(u: Any, p: Any, t: Any, xp: Any) -> Any:
    x, y = u[0], u[1]
    return xp.stack([p[0] * x - p[1] * x * y, -p[2] * y + p[3] * x * y])


LOTKA_VOLTERRA_DIFFSL = """
in_i { a = 0, b = 0, c = 0, d = 0, x0 = 0, y0 = 0 }
u_i { x = x0, y = y0 }
F_i { a * x - b * x * y, -c * y + d * x * y }
"""


# --- Lorenz --------------------------------------------------------------------------------


def lorenz_xp(u: Any, p: Any, t: Any, xp: Any) -> Any:
    x, y, z = u[0], u[1], u[2]
    return xp.stack([p[0] * (y - x), x * (p[1] - z) - y, x * y - p[2] * z])


LORENZ_DIFFSL = """
in_i { sigma = 0, rho = 0, beta = 0, x0 = 0, y0 = 0, z0 = 0 }
u_i { x = x0, y = y0, z = z0 }
F_i { sigma * (y - x), x * (rho - z) - y, x * y - beta * z }
"""


# --- Robertson -----------------------------------------------------------------------------


ROBERTSON_DIFFSL = """
in_i { k1 = 0, k2 = 0, k3 = 0, a0 = 0, b0 = 0, c0 = 0 }
u_i { a = a0, b = b0, c = c0 }
F_i { -k1 * a + k3 * b * c, k1 * a - k2 * b * b - k3 * b * c, k2 * b * b }
"""


def robertson_xp(u: Any, p: Any, t: Any, xp: Any) -> Any:
    y1, y2, y3 = u[0], u[1], u[2]
    return xp.stack(
        [
            -p[0] * y1 + p[2] * y2 * y3,
            p[0] * y1 - p[1] * y2 * y2 - p[2] * y2 * y3,
            p[1] * y2 * y2,
        ]
    )


# --- 50-state reaction chain ---------------------------------------------------------------


def reaction_chain_xp(u: Any, p: Any, t: Any, xp: Any) -> Any:
    n = CHAIN_N
    v = p[:n] * u / (p[n] + u)
    return xp.concatenate([-v[:1], v[:-1] - v[1:]])


# Vectorised, as a DiffSL user writes it (bridge's scalar tracer prints 50 equations).
REACTION_CHAIN_DIFFSL = f"""
in_i {{ (0:{CHAIN_N}): k = 0, km = 0, ({CHAIN_N + 1}:{2 * CHAIN_N + 1}): ic = 0 }}
u_i {{ ic_i }}
v_i {{ k_i * u_i / (km + u_i) }}
F_i {{ (0:1): -v_i[0:1], (1:{CHAIN_N}): v_i[0:{CHAIN_N - 1}] - v_i[1:{CHAIN_N}] }}
"""


# --- neural ODE ----------------------------------------------------------------------------

NN_HIDDEN = 16


def _nn_shapes() -> dict[str, tuple[int, ...]]:
    h = NN_HIDDEN
    return {"W1": (h, 2), "b1": (h,), "W2": (2, h), "b2": (2,)}


def neural_ode_xp(u: Any, p: Any, t: Any, xp: Any) -> Any:
    h = NN_HIDDEN
    w1 = p[: 2 * h].reshape(h, 2)
    b1 = p[2 * h : 3 * h]
    w2 = p[3 * h : 5 * h].reshape(2, h)
    b2 = p[5 * h : 5 * h + 2]
    return w2 @ xp.tanh(w1 @ u + b1) + b2


def neural_ode_diffsl() -> str:
    """The MLP in DiffSL, one equation per hidden unit: DiffSL 0.12 has no way to view a slice
    of the input vector as a matrix that is both right and quick to compile (docs/diffsl.md),
    so this is how a DiffSL user writes it, and what bridge generates."""
    h = NN_HIDDEN
    w1 = [[f"w1r{i}c{j}" for j in range(2)] for i in range(h)]
    w2 = [[f"w2r{i}c{j}" for j in range(h)] for i in range(2)]
    b1 = [f"b1r{i}" for i in range(h)]
    b2 = [f"b2r{i}" for i in range(2)]
    names = [v for row in w1 for v in row] + b1 + [v for row in w2 for v in row] + b2
    lines = ["in_i { " + ", ".join(f"{v} = 0" for v in [*names, "x0", "y0"]) + " }"]
    lines.append("u_i { x = x0, y = y0 }")
    for i in range(h):
        lines.append(f"h{i} {{ tanh({w1[i][0]} * x + {w1[i][1]} * y + {b1[i]}) }}")
    out = [" + ".join(f"{w2[r][j]} * h{j}" for j in range(h)) + f" + {b2[r]}" for r in range(2)]
    lines.append("F_i { " + ", ".join(out) + " }")
    return "\n".join(lines) + "\n"


def _nn_params() -> dict[str, FloatArray]:
    """Fixed weights (seeded) scaled so the flow rotates and contracts visibly over tspan."""
    rng = np.random.default_rng(20261126)
    shapes = _nn_shapes()
    out = {k: rng.standard_normal(s) for k, s in shapes.items()}
    out["W1"] *= 1.0
    out["W2"] *= 0.5
    out["b1"] *= 0.1
    out["b2"] *= 0.1
    return out


def _flat(d: dict[str, FloatArray]) -> FloatArray:
    return np.concatenate([np.ravel(v) for v in d.values()])


# --- the set -------------------------------------------------------------------------------


def build_problems() -> list[Problem]:
    """The fixed problem set, in table order.

    Example
    -------
    >>> [p.name for p in build_problems()]
    ['lotka_volterra', 'lorenz', 'robertson', 'reaction_chain', 'neural_ode']
    """
    nn_p = _nn_params()
    chain_k = np.logspace(0.0, 1.0, CHAIN_N)  # rates 1 … 10: non-stiff, a 50-step cascade
    chain_u0 = np.zeros(CHAIN_N)
    chain_u0[0] = 1.0
    return [
        Problem(
            name="lotka_volterra",
            diffsl=LOTKA_VOLTERRA_DIFFSL,
            title="Lotka–Volterra",
            f=lotka_volterra,
            f_xp=lotka_volterra_xp,
            u0=np.array([1.0, 1.0]),
            p=np.array([1.5, 1.0, 3.0, 1.0]),
            tspan=(0.0, 10.0),
            saveat=_steps(0.0, 10.0, 0.1),
            rtol=1e-8,
            atol=1e-8,
            alg="Tsit5",
        ),
        Problem(
            name="lorenz",
            diffsl=LORENZ_DIFFSL,
            title="Lorenz (0–100)",
            f=lorenz,
            f_xp=lorenz_xp,
            u0=np.array([1.0, 0.0, 0.0]),
            p=np.array([10.0, 28.0, 8.0 / 3.0]),
            tspan=(0.0, 100.0),
            saveat=_steps(0.0, 100.0, 0.1),
            rtol=1e-8,
            atol=1e-8,
            alg="Tsit5",
            # A 1e-8 local error grows like e^{0.9 t}: by t ≈ 20 every 1e-8 solver (and any
            # double-precision reference) has lost all digits, so errors past a short horizon
            # measure the chaos, not the solver.
            error_tmax=10.0,
            grad_reference=False,
            notes="chaotic: error over t ≤ 10 only; gradients over 0–100 are ~1e30+ "
            "and differ between correct solvers, so no gradient error is reported",
        ),
        Problem(
            name="robertson",
            diffsl=ROBERTSON_DIFFSL,
            title="Robertson (stiff)",
            f=robertson,
            f_xp=robertson_xp,
            u0=np.array([1.0, 0.0, 0.0]),
            p=np.array([0.04, 3e7, 1e4]),
            tspan=(0.0, 1e5),
            saveat=np.concatenate([[0.0], np.logspace(-5.0, 5.0, 41)]),
            rtol=1e-6,
            atol=1e-8,
            alg="Rodas5P",
            stiff=True,
        ),
        Problem(
            name="reaction_chain",
            diffsl=REACTION_CHAIN_DIFFSL,
            title="Reaction chain (50 states)",
            f=reaction_chain,
            f_xp=reaction_chain_xp,
            u0=chain_u0,
            p=np.concatenate([chain_k, [0.5]]),
            tspan=(0.0, 30.0),
            saveat=_steps(0.0, 30.0, 0.5),
            rtol=1e-6,
            atol=1e-8,
            alg="Tsit5",
        ),
        Problem(
            name="neural_ode",
            diffsl=neural_ode_diffsl(),
            title="Neural ODE (2→16→2 tanh)",
            f=neural_ode,
            f_xp=neural_ode_xp,
            u0=np.array([2.0, 0.0]),
            p=_flat(nn_p),
            p_bridge=nn_p,
            tspan=(0.0, 5.0),
            saveat=_steps(0.0, 5.0, 0.1),
            rtol=1e-6,
            atol=1e-8,
            alg="Tsit5",
        ),
    ]


def get_problem(name: str) -> Problem:
    """One problem by name."""
    for prob in build_problems():
        if prob.name == name:
            return prob
    names = ", ".join(p.name for p in build_problems())
    raise KeyError(f"no benchmark problem {name!r}; known: {names}")


def loss(u: FloatArray) -> float:
    """The benchmark loss: Σ u² over every saved state."""
    return float(np.sum(np.square(u)))
