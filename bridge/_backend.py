"""Where the backend is chosen: ``choose_backend`` is the one place, and everything reads it.

The request comes from the ``backend=`` argument, else the environment variable
``BRIDGE_BACKEND``, else ``"auto"``. ``auto`` takes the engines in the order of ``ENGINES``
(Julia, then diffsol, then the SciPy reference backend) and picks the first that is
installed and can run the problem at hand; it says which one and why, in the returned
``BackendChoice`` and in one ``BridgeBackendWarning`` per process and outcome when the best
engine (Julia) is not the one that runs. An engine asked for by name that is not installed
raises ``BackendUnavailableError`` (``JuliaUnavailableError`` for Julia); one that cannot run
the problem raises ``BackendUnsupportedError`` with the reason.

Each engine joins through a small ``Engine`` entry: a cheap ``availability()`` (no engine is
started to answer it) and the import path of its ``Backend`` object.
"""

from __future__ import annotations

import importlib
import os
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from ._errors import (
    BackendUnavailableError,
    BackendUnsupportedError,
    BridgeBackendWarning,
    BridgeTypeError,
    BridgeValueError,
    JuliaUnavailableError,
    user_stacklevel,
)

if TYPE_CHECKING:
    from ._algorithms import Algorithm
    from ._problem import ODEProblem
    from ._solution import Gradients, Solution
    from ._validate import FloatArray, SolveOptions

ENV_VAR = "BRIDGE_BACKEND"

__all__ = [
    "BACKENDS",
    "ENV_VAR",
    "Backend",
    "BackendChoice",
    "BridgeBackendWarning",
    "choose_backend",
    "get_backend",
    "requested_backend",
    "resolve_backend",
    "unsupported_options",
]


class Backend(Protocol):
    """What every engine implements; ``bridge._api`` validates the inputs before calling it.

    ``unsupported`` returns None when the engine can run ``prob`` (with gradients when
    ``gradient``), else a sentence saying why not, naming what the user can change.

    Two optional methods, read with ``getattr`` (an engine without them works unchanged):

    * ``unsupported_options(prob, opts, *, gradient) -> str | None``: whether the engine runs
      the options beyond the basic ones that ``opts`` asks for (``SolveOptions.extras()``:
      events, tstops, a per-state abstol). An engine without it runs none of them, and is
      refused by name (``BackendUnsupportedError``) and passed over by ``auto`` when a solve
      asks for one; so it never sees them (see ``unsupported_options`` below).
    * ``handles_switches(model) -> bool``: True when the engine's gradients treat the
      jumping switches of ``model`` (``np.where``/``np.sign`` on u or p) as events on their
      switching surfaces, so ``bridge.vjp`` need not warn (``GradientWarning``) about them.
    """

    name: str

    def unsupported(self, prob: ODEProblem, *, gradient: bool) -> str | None: ...

    def solve(self, prob: ODEProblem, alg: Algorithm, opts: SolveOptions) -> Solution: ...

    def vjp(
        self, prob: ODEProblem, alg: Algorithm, opts: SolveOptions, sensealg: str
    ) -> tuple[Solution, Callable[[FloatArray], Gradients]]: ...


@dataclass(frozen=True)
class Engine:
    """One engine: its name, how to ask whether it is installed, and where its Backend is."""

    name: str
    #: None when the engine can run on this machine, else the reason (must be cheap).
    availability: Callable[[], str | None]
    #: ``module:attribute`` of the engine's Backend object, imported on first use.
    backend_path: str
    #: How to get the engine, for messages.
    install_hint: Callable[[], str]


def _julia_availability() -> str | None:
    from . import _julia

    st = _julia.status()
    return None if st.usable else st.reason


def _julia_hint() -> str:
    from . import _julia

    return _julia.INSTALL_HINT


def _diffsol_availability() -> str | None:
    try:
        from ._diffsol import availability
    except ImportError:
        return "bridge's diffsol engine is not part of this installation"
    return availability()


def _diffsol_hint() -> str:
    return "pip install 'pydiffsol>=0.6.2,<0.7' (wheels: Linux x86-64/aarch64, macOS 14+ arm64)"


#: The engines, best first: the order ``auto`` tries them in.
ENGINES: tuple[Engine, ...] = (
    Engine("julia", _julia_availability, "bridge._julia.backend:BACKEND", _julia_hint),
    Engine("diffsol", _diffsol_availability, "bridge._diffsol.backend:BACKEND", _diffsol_hint),
    Engine("reference", lambda: None, "bridge._reference:BACKEND", lambda: "always installed"),
)
_BY_NAME = {e.name: e for e in ENGINES}

#: Every value ``backend=`` accepts.
BACKENDS = ("auto", *(e.name for e in ENGINES))


@dataclass(frozen=True)
class BackendChoice:
    """What ``choose_backend`` decided.

    Attributes
    ----------
    name : str
        The engine that runs: ``"julia"``, ``"diffsol"`` or ``"reference"``.
    requested : str
        What was asked for (``"auto"`` or an engine name).
    source : str
        Where the request came from: ``"backend="``, the environment variable, or the default.
    reason : str
        Why this engine runs (for ``auto``: why each better engine was passed over).
    skipped : tuple of (str, str)
        The better engines ``auto`` passed over, each with the reason.
    """

    name: str
    requested: str
    source: str
    reason: str
    skipped: tuple[tuple[str, str], ...] = field(default=())

    def describe(self) -> str:
        """One line for ``doctor`` and messages.

        Example
        -------
        >>> BackendChoice("reference", "reference", "backend=", "asked for by name").describe()
        "reference (requested 'reference' by backend=: asked for by name)"
        """
        return f"{self.name} (requested {self.requested!r} by {self.source}: {self.reason})"


_warned: set[tuple[str, tuple[str, ...]]] = set()
_warn_lock = threading.Lock()


def _request(backend: object) -> tuple[str, str]:
    """The backend name asked for and where the request came from, validated."""
    source = "backend="
    if backend is None:
        env = os.environ.get(ENV_VAR)
        if env is not None and env.strip():
            backend, source = env.strip(), f"the environment variable {ENV_VAR}"
        else:
            backend, source = "auto", "default"
    if not isinstance(backend, str):
        raise BridgeTypeError(
            f"backend must be one of {', '.join(map(repr, BACKENDS))}, got {backend!r}"
        )
    name = backend.lower()
    if name not in BACKENDS:
        raise BridgeValueError(
            f"unknown backend {backend!r}"
            + (f" (from {source})" if source != "backend=" else "")
            + f"; valid backends: {', '.join(map(repr, BACKENDS))}"
        )
    return name, source


def requested_backend(backend: object = None) -> str:
    """The backend name asked for (argument, else environment, else "auto"), validated.

    Example
    -------
    >>> requested_backend("Reference")
    'reference'
    """
    return _request(backend)[0]


def get_backend(name: str) -> Backend:
    """The Backend object of an engine (imported on first use)."""
    module, _, attr = _BY_NAME[name].backend_path.partition(":")
    backend: Backend = getattr(importlib.import_module(module), attr)
    return backend


def unsupported_options(
    name: str, prob: ODEProblem, opts: SolveOptions | None, *, gradient: bool = False
) -> str | None:
    """Why engine ``name`` cannot run the extra options of ``opts`` (None: it can, or none
    are asked for). Engines declare what they run with ``Backend.unsupported_options``.

    Example
    -------
    >>> import bridge
    >>> from bridge._validate import check_options
    >>> prob = bridge.ODEProblem(lambda u, p, t: -u, [1.0], (0.0, 1.0))
    >>> opts = check_options(prob.tspan, None, 1e-3, 1e-6, 100, tstops=[0.5])
    >>> unsupported_options("reference", prob, opts) is None
    True
    """
    wanted = [] if opts is None else opts.extras()
    if not wanted:
        return None
    backend = get_backend(name)
    check = getattr(backend, "unsupported_options", None)
    if check is None:
        return (
            f"the {name} engine does not run {' or '.join(wanted)} yet; use "
            "backend='reference' (which does), or leave them out"
        )
    reason: str | None = check(prob, opts, gradient=gradient)
    return reason


def _unavailable(engine: Engine, reason: str) -> BackendUnavailableError:
    cls = JuliaUnavailableError if engine.name == "julia" else BackendUnavailableError
    return cls(
        f"backend={engine.name!r} was asked for, but {reason}. To fix: "
        f"{engine.install_hint()}; or use backend='auto' to run on what is installed "
        "(another compiled engine, else the SciPy reference backend)."
    )


def choose_backend(
    backend: object = None,
    prob: ODEProblem | None = None,
    *,
    gradient: bool = False,
    warn: bool = True,
    opts: SolveOptions | None = None,
) -> BackendChoice:
    """Decide which engine runs ``prob`` (or, without a problem, which would run by default).

    Parameters
    ----------
    backend : {"auto", "julia", "diffsol", "reference"} or None
        None reads ``BRIDGE_BACKEND``, else ``"auto"``.
    prob : ODEProblem, optional
        The problem to run; ``auto`` passes over engines that cannot run it.
    gradient : bool
        Whether gradients will be asked of the solve.
    warn : bool
        Emit the once-per-process ``BridgeBackendWarning`` when auto passes over Julia.
    opts : SolveOptions, optional
        The solve's options: engines that do not run the extras it asks for (events, tstops,
        a per-state abstol) are refused by name and passed over by ``auto``.

    Raises
    ------
    BackendUnavailableError
        A named engine is not installed (``JuliaUnavailableError`` for Julia).
    BackendUnsupportedError
        A named engine cannot run ``prob``.

    Example
    -------
    >>> choose_backend("reference").name
    'reference'
    """
    name, source = _request(backend)
    if name != "auto":
        engine = _BY_NAME[name]
        reason = engine.availability()
        if reason is not None:
            raise _unavailable(engine, reason)
        if prob is not None:
            why_not = get_backend(name).unsupported(prob, gradient=gradient)
            if why_not is None:
                why_not = unsupported_options(name, prob, opts, gradient=gradient)
            if why_not is not None:
                raise BackendUnsupportedError(
                    f"backend={name!r} cannot run problem {prob.name!r}: {why_not}"
                )
        return BackendChoice(name, name, source, "asked for by name")
    skipped: list[tuple[str, str]] = []
    for engine in ENGINES:
        reason = engine.availability()
        if reason is None and prob is not None:
            reason = get_backend(engine.name).unsupported(prob, gradient=gradient)
            if reason is None:
                reason = unsupported_options(engine.name, prob, opts, gradient=gradient)
        if reason is None:
            break
        skipped.append((engine.name, reason))
    else:  # e.g. a JuliaFunction without Julia: say how to get the engines passed over
        assert prob is not None  # without a problem the reference engine always runs
        raise BackendUnsupportedError(
            f"no engine installed here can run problem {prob.name!r}: "
            + "; ".join(f"{n}: {r}" for n, r in skipped)
            + "".join(
                f". To get {n}: {_BY_NAME[n].install_hint()}"
                for n, _ in skipped
                if _BY_NAME[n].availability() is not None
            )
        )
    why = "; ".join(f"{n} passed over: {r}" for n, r in skipped) or "the best engine installed"
    choice = BackendChoice(engine.name, "auto", source, why, tuple(skipped))
    if warn and skipped:
        _warn_once(choice)
    return choice


def _warn_once(choice: BackendChoice) -> None:
    key = (choice.name, tuple(n for n, _ in choice.skipped))
    with _warn_lock:
        if key in _warned:
            return
        _warned.add(key)
    hints = "; ".join(
        f"{n} is not used because {r}"
        # an install hint only for an engine that is not installed (not one that is, but
        # cannot run this problem)
        + (
            f" (to get it: {_BY_NAME[n].install_hint()})"
            if _BY_NAME[n].availability() is not None
            else ""
        )
        for n, r in choice.skipped
    )
    warnings.warn(
        f"bridge: backend='auto' runs on {choice.name}: {hints}. Set {ENV_VAR}={choice.name} "
        "to choose it explicitly and silence this warning.",
        BridgeBackendWarning,
        stacklevel=user_stacklevel(),
    )


def resolve_backend(backend: object = None) -> str:
    """The name of the engine that would run by default: ``choose_backend(backend).name``.

    Kept for code written against bridge 0.1; ``choose_backend`` also says why.

    Example
    -------
    >>> resolve_backend("reference")
    'reference'
    """
    return choose_backend(backend).name
