"""The diffsol engine: traced models printed as DiffSL, compiled and solved by pydiffsol.

pydiffsol is the Python binding of diffsol, a Rust ODE solver suite that JIT-compiles its
equation language DiffSL with LLVM and differentiates the compiled code itself (forward
sensitivities, adjoints). bridge prints the traced right-hand side as DiffSL
(``bridge/_trace/diffsl_codegen.py``), compiles it once per model, and runs the Backend
protocol on it. Measured facts and traps: ``docs/diffsl.md``.

Modules, one concept each: ``methods`` (algorithm and sensealg names -> diffsol methods),
``compiled`` (DiffSL source -> compiled model, cached per source, picklable), ``limits``
(what the engine refuses, with the reason), ``run`` (one integration: saving, maxiters,
failures as retcodes), ``gradients`` (forward sensitivities and the adjoint),
``backend`` (the Backend object).

This module answers "can diffsol run here?" cheaply: pydiffsol is imported on first ask
(about 50 ms), never at ``import bridge``.
"""

from __future__ import annotations

import functools
import importlib
from types import ModuleType

from .._errors import BackendUnavailableError

#: What to install, for messages.
INSTALL_HINT = (
    "pip install 'pydiffsol>=0.6.2,<0.7' (wheels: Linux x86-64/aarch64 manylinux_2_28, "
    "macOS 14+ arm64, Windows amd64)"
)
#: The pydiffsol versions bridge was written against (pyproject pins the same range).
SUPPORTED = ((0, 6, 2), (0, 7, 0))


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


@functools.lru_cache(maxsize=1)
def _probe() -> tuple[ModuleType | None, str | None]:
    try:
        module = importlib.import_module("pydiffsol")
    except ImportError as exc:
        return None, f"pydiffsol is not installed ({exc}); to get it: {INSTALL_HINT}"
    version = str(module.version())
    low, high = SUPPORTED
    if not low <= _version_tuple(version) < high:
        return None, (
            f"pydiffsol {version} is installed, but bridge supports >=0.6.2,<0.7 ({INSTALL_HINT})"
        )
    if module.default_enabled_jit_backend() is None:
        return None, (
            f"pydiffsol {version} was built without a JIT backend on this platform (the "
            "Windows wheel has no LLVM), so it cannot compile models"
        )
    return module, None


def availability() -> str | None:
    """None when the diffsol engine can run here, else the reason (imports pydiffsol once).

    Example
    -------
    >>> reason = availability()
    >>> reason is None or "pydiffsol" in reason
    True
    """
    return _probe()[1]


def pydiffsol() -> ModuleType:
    """The pydiffsol module, or BackendUnavailableError with the reason."""
    module, reason = _probe()
    if module is None:
        raise BackendUnavailableError(f"the diffsol engine is unavailable: {reason}")
    return module


def sensitivities_available() -> bool:
    """Whether this pydiffsol build has forward sensitivities and adjoints (not on Windows)."""
    module, _ = _probe()
    return module is not None and bool(module.is_sens_available())


def describe() -> str:
    """One line for ``python -m bridge doctor``: versions and JIT backend, or why unavailable.

    Example
    -------
    >>> describe().startswith("diffsol: ")
    True
    """
    module, reason = _probe()
    if module is None:
        return f"diffsol: unavailable: {reason}"
    sens = "sensitivities and adjoints" if module.is_sens_available() else "no sensitivities"
    return (
        f"diffsol: pydiffsol {module.version()} (diffsol {module.diffsol_version()}, "
        f"DiffSL {module.diffsl_version()}), JIT backend {module.default_enabled_jit_backend()}, "
        f"{sens}"
    )


__all__ = ["INSTALL_HINT", "availability", "describe", "pydiffsol", "sensitivities_available"]
