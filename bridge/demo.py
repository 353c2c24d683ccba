"""The main job, ``python -m bridge demo``: fit Lotka–Volterra parameters by gradient descent.

Public so that the examples (and users) can reuse its pieces: ``fit_lotka_volterra``,
``plot_fit``, ``Adam``, ``describe_backend``, ``report_plot``.

This is DiffEqFlux's classic demo (the one in the founding talk), run from Python: start the
Lotka–Volterra parameters at ``[2.2, 1.0, 2.0, 0.4]``, solve from ``u0 = [1, 1]`` over
``(0, 10)`` saving every 0.1, and take Adam steps (learning rate 0.1) on the loss
``L(p) = Σ (u(t_i; p) - 1)²`` with gradients from ``bridge.vjp``. The loss falls by orders of
magnitude as the parameters move to a fixed point at ``u = (1, 1)``.

``examples/fit_lotka_volterra.py`` is a thin script over the same functions.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ._model import FloatArray
from ._validate import DEFAULT_ABSTOL, DEFAULT_RELTOL

#: The problem of the talk's demo (DiffEqFlux's README, January 2019).
P_START = (2.2, 1.0, 2.0, 0.4)
U0 = (1.0, 1.0)
TSPAN = (0.0, 10.0)
SAVEAT = 0.1
LEARNING_RATE = 0.1
ALG = "Tsit5"
PLOT_NAME = "lotka_volterra_fit.png"


def lotka_volterra(u: Any, p: Any, t: Any) -> list[Any]:
    """The Lotka–Volterra right-hand side: prey ``x``, predator ``y``.

    Example
    -------
    >>> lotka_volterra([1.0, 1.0], [1.5, 1.0, 3.0, 1.0], 0.0)
    [0.5, -2.0]
    """
    x, y = u[0], u[1]
    a, b, c, d = p[0], p[1], p[2], p[3]
    return [a * x - b * x * y, -c * y + d * x * y]


@functools.lru_cache(maxsize=1)
def _traced_problem() -> Any:
    from ._problem import ODEProblem

    prob = ODEProblem(lotka_volterra, u0=list(U0), tspan=TSPAN, p=list(P_START))
    prob.model  # noqa: B018  (trace now: ``remake`` shares the model only once it is built)
    return prob


def make_problem(p: Sequence[float] = P_START) -> Any:
    """The demo's ``bridge.ODEProblem`` with parameters ``p``, traced once per process.

    Example
    -------
    >>> make_problem().n_params
    4
    """
    return _traced_problem().remake(p=list(p))


def loss_of(u: FloatArray) -> float:
    """The demo's loss ``Σ (u - 1)²`` over every saved point and state.

    Example
    -------
    >>> loss_of(np.array([[1.0, 3.0]]))
    4.0
    """
    return float(np.sum((u - 1.0) ** 2))


class Adam:
    """Adam (Kingma & Ba) on a NumPy vector, with Flux's defaults β = (0.9, 0.999), ε = 1e-8.

    Example
    -------
    >>> opt = Adam(lr=0.1)
    >>> opt.step(np.array([1.0]), np.array([2.0]))  # the first step moves by lr
    array([0.9])
    """

    def __init__(
        self, lr: float = LEARNING_RATE, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
    ) -> None:
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.m: FloatArray | None = None
        self.v: FloatArray | None = None
        self.k = 0

    def step(self, x: FloatArray, grad: FloatArray) -> FloatArray:
        """Return the new ``x`` after one step along ``grad`` (``x`` is not modified)."""
        if self.m is None or self.v is None:
            self.m, self.v = np.zeros_like(grad), np.zeros_like(grad)
        self.k += 1
        self.m = self.beta1 * self.m + (1 - self.beta1) * grad
        self.v = self.beta2 * self.v + (1 - self.beta2) * grad**2
        m_hat = self.m / (1 - self.beta1**self.k)
        v_hat = self.v / (1 - self.beta2**self.k)
        out: FloatArray = x - self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
        return out


@dataclass
class FitResult:
    """What ``fit_lotka_volterra`` returns.

    ``losses[i]`` is the loss at the parameters before step ``i``; ``losses[-1]`` is the loss
    at ``p_final`` (so there are ``iterations + 1`` entries).
    """

    p_initial: FloatArray
    p_final: FloatArray
    losses: list[float]
    backend: str
    alg: str
    seconds: float
    t: FloatArray
    u_initial: FloatArray
    u_final: FloatArray
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def loss_before(self) -> float:
        return self.losses[0]

    @property
    def loss_after(self) -> float:
        return self.losses[-1]

    @property
    def reduction(self) -> float:
        """How many times smaller the final loss is than the initial one."""
        return self.loss_before / max(self.loss_after, np.finfo(float).tiny)


ProgressCallback = Callable[[int, int, float, FloatArray], None]


def fit_lotka_volterra(
    iterations: int = 100,
    *,
    lr: float = LEARNING_RATE,
    p_start: Sequence[float] = P_START,
    backend: str | None = None,
    reltol: float = DEFAULT_RELTOL,
    abstol: float = DEFAULT_ABSTOL,
    callback: ProgressCallback | None = None,
) -> FitResult:
    """Fit the Lotka–Volterra parameters with Adam on ``bridge.vjp`` gradients.

    Parameters
    ----------
    iterations : int
        Adam steps (one ``bridge.vjp`` solve each, plus one final solve).
    lr : float
        Adam's learning rate.
    p_start : sequence of 4 floats
        Initial parameters ``(a, b, c, d)``.
    backend : str, optional
        ``"auto"`` or an engine name (default: ``BRIDGE_BACKEND``, then auto).
    reltol, abstol : float
        Solver tolerances; DifferentialEquations.jl's defaults (1e-3, 1e-6), as in the
        talk's demo. They are enough: on the reference backend, tightening them to
        (1e-8, 1e-10) changes the final loss by less than 0.1 % and takes 3-4 times as long.
    callback : callable, optional
        ``callback(i, iterations, loss, p)`` after each gradient evaluation, with ``i`` from 0
        to ``iterations - 1``, and once more with ``i == iterations`` at the final parameters.

    Returns
    -------
    FitResult

    Example
    -------
    >>> res = fit_lotka_volterra(5, backend="reference")  # doctest: +SKIP
    >>> res.loss_after < res.loss_before  # doctest: +SKIP
    True
    """
    from ._api import solve, vjp

    if iterations < 1:
        raise ValueError(f"iterations must be at least 1, got {iterations}")
    prob = make_problem(p_start)
    p: FloatArray = np.array(p_start, dtype=np.float64)
    opt = Adam(lr=lr)
    losses: list[float] = []
    opts: dict[str, Any] = {"saveat": SAVEAT, "reltol": reltol, "abstol": abstol}
    t0 = time.perf_counter()
    u_initial: FloatArray | None = None
    sol: Any = None
    for i in range(iterations):
        sol, pullback = vjp(prob.remake(p=p), ALG, backend=backend, **opts)
        if u_initial is None:
            u_initial = np.array(sol.u)
        loss = loss_of(sol.u)
        losses.append(loss)
        if callback is not None:
            callback(i, iterations, loss, p)
        grads = pullback(2.0 * (sol.u - 1.0))
        p = opt.step(p, np.asarray(grads.p, dtype=np.float64))
    sol = solve(prob.remake(p=p), ALG, backend=backend, **opts)
    losses.append(loss_of(sol.u))
    seconds = time.perf_counter() - t0
    if callback is not None:
        callback(iterations, iterations, losses[-1], p)
    assert u_initial is not None
    return FitResult(
        p_initial=np.array(p_start, dtype=np.float64),
        p_final=p,
        losses=losses,
        backend=sol.backend,
        alg=sol.alg,
        seconds=seconds,
        t=np.array(sol.t),
        u_initial=u_initial,
        u_final=np.array(sol.u),
    )


def progress_printer(
    every: int, stream: TextIO | None = None, prefix: str = "  "
) -> ProgressCallback:
    """A ``callback`` for ``fit_lotka_volterra`` printing one line every ``every`` steps.

    Example
    -------
    >>> cb = progress_printer(10, stream=sys.stdout)
    >>> cb(0, 100, 123.4, np.array([2.2, 1.0, 2.0, 0.4]))
      step   0/100  loss 1.2340e+02  p = [2.2, 1, 2, 0.4]
    """
    every = max(1, every)

    def cb(i: int, iterations: int, loss: float, p: FloatArray) -> None:
        if i % every == 0 or i == iterations:
            width = len(str(iterations))
            ps = ", ".join(f"{x:.4g}" for x in p)
            print(
                f"{prefix}step {i:>{width}}/{iterations}  loss {loss:.4e}  p = [{ps}]",
                file=stream if stream is not None else sys.stderr,
                flush=True,
            )

    return cb


def plot_fit(result: FitResult, path: str | os.PathLike[str]) -> Path | None:
    """Save a before/after figure (trajectories and the loss curve) as a PNG.

    Uses matplotlib's object API with the Agg canvas, so it never opens a window and leaves
    pyplot's global state alone. Returns the path, or None when matplotlib is not installed.

    Example
    -------
    >>> plot_fit(res, "fit.png")  # doctest: +SKIP
    PosixPath('fit.png')
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        return None
    fig = Figure(figsize=(13, 4), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 3)
    for ax, u, p, title in (
        (axes[0], result.u_initial, result.p_initial, "before"),
        (axes[1], result.u_final, result.p_final, "after"),
    ):
        ax.plot(result.t, u[:, 0], label="prey x")
        ax.plot(result.t, u[:, 1], label="predator y")
        ax.axhline(1.0, color="grey", linestyle="--", linewidth=1, label="target 1")
        ps = ", ".join(f"{x:.3g}" for x in p)
        ax.set_title(f"{title}: p = [{ps}]")
        ax.set_xlabel("t")
        ax.set_ylim(0.0, max(6.0, float(np.max(result.u_initial)) * 1.05))
        ax.legend(loc="upper right")
    steps = np.arange(len(result.losses))
    axes[2].semilogy(steps, result.losses, marker=".", markersize=3)
    axes[2].set_xlabel("Adam step")
    axes[2].xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[2].set_ylabel("loss  Σ(u - 1)²")
    axes[2].set_title(
        f"loss {result.loss_before:.3g} → {result.loss_after:.3g} ({result.reduction:.3g}×)"
    )
    axes[2].grid(True, which="both", alpha=0.3)
    fig.suptitle(f"Lotka–Volterra fit with bridge ({result.backend} backend, {result.alg})")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    return out


def report_plot(png: Path | None) -> bool:
    """Say where a plot went; False (and a FAILED line) if it should exist and does not.

    Example
    -------
    >>> report_plot(None)
    Plot skipped: matplotlib is not installed (pip install matplotlib)
    True
    """
    if png is None:
        print("Plot skipped: matplotlib is not installed (pip install matplotlib)")
        return True
    if png.is_file() and png.stat().st_size > 0:
        print(f"Plot written to {png.resolve()}")
        return True
    print(f"FAILED: the plot {png} was not written")
    return False


def describe_backend(backend: str | None, prob: Any = None) -> tuple[str, str]:
    """Choose the backend quietly (for ``prob``, when given: ``auto`` may pass over an
    engine that cannot run it); return its name and a ``Backend: ...`` text to print.

    The text says which engine runs and, when ``auto`` passed over a better one, why and how
    to get it, so callers can silence bridge's one-time backend warning and print this.

    Example
    -------
    >>> describe_backend("reference")
    ('reference', 'Backend: reference (SciPy; asked for)')
    """
    from ._backend import ENGINES, choose_backend

    choice = choose_backend(backend, prob, warn=False)
    what = {
        "julia": "Julia's DifferentialEquations.jl",
        "diffsol": "diffsol, compiled",
        "reference": "SciPy",
    }[choice.name]
    asked = "; asked for" if choice.requested != "auto" else ""
    lines = [f"Backend: {choice.name} ({what}{asked})"]
    engines = {e.name: e for e in ENGINES}
    for name, reason in choice.skipped:
        title = "Julia" if name == "julia" else name
        if engines[name].availability() is None:  # installed, but not for this problem
            lines.append(f"  {title} cannot run this problem: {reason}.")
            continue
        lines.append(f"  {title} is not available: {reason}.")
        lines.append(f"  To use {title}: {engines[name].install_hint()}.")
    return choice.name, "\n".join(lines)


def run_demo(iterations: int = 100, backend: str | None = None, outdir: str = ".") -> int:
    """Run the demo, print what happened, and return an exit code.

    0 when the loss fell, 1 when it did not (or a solve failed), 2 for bad arguments or an
    unavailable backend that was asked for by name.

    Example
    -------
    >>> run_demo(iterations=20, backend="reference", outdir="/tmp")  # doctest: +SKIP
    0
    """
    from ._errors import BridgeError

    if iterations < 1:
        print(f"bridge demo: --iterations must be at least 1, got {iterations}", file=sys.stderr)
        return 2
    try:
        name, banner = describe_backend(backend)
    except BridgeError as exc:
        print(f"bridge demo: {exc}", file=sys.stderr)
        return 2
    print("bridge demo: fit the Lotka–Volterra parameters (DiffEqFlux's classic demo)")
    print(banner)
    print(
        f"Problem: u0 = {list(U0)}, tspan = {TSPAN}, saveat = {SAVEAT}, {ALG}; "
        f"loss = Σ(u - 1)²; Adam(lr={LEARNING_RATE}), {iterations} steps, p0 = {list(P_START)}",
        flush=True,
    )
    every = max(1, iterations // 10)
    try:
        # ``name`` is already resolved, so no fallback warning is raised here.
        result = fit_lotka_volterra(
            iterations, backend=name, callback=progress_printer(every, sys.stderr)
        )
    except BridgeError as exc:
        print(f"bridge demo: the fit failed: {exc}", file=sys.stderr)
        return 1
    print(f"Loss before: {result.loss_before:.6g}")
    print(f"Loss after:  {result.loss_after:.6g}  ({result.reduction:.3g}x smaller)")
    print(f"Parameters:  {np.array2string(result.p_final, precision=4)}")
    print(
        f"Time: {result.seconds:.2f} s for {iterations} gradient steps "
        f"({1000 * result.seconds / (iterations + 1):.1f} ms per solve + gradient)"
    )
    status = 0
    plot_path = Path(outdir) / PLOT_NAME
    try:
        written = plot_fit(result, plot_path)
    except OSError as exc:
        print(f"bridge demo: could not write the plot {plot_path}: {exc}", file=sys.stderr)
        status = 1
    else:
        if written is None:
            print("Plot: skipped (matplotlib is not installed: pip install 'bridge[plot]')")
        else:
            print(f"Plot written to {written.resolve()}")
    if not result.loss_after < result.loss_before:
        print("bridge demo: FAILED: the loss did not fall", file=sys.stderr)
        return 1
    return status
