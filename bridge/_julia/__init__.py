"""The Julia engine: everything that knows Julia exists lives in this package.

Modules, one concept each:

* ``detection``: is a usable Julia installed? Offline, under a second (``detect``,
  ``status``, ``INSTALL_HINT``);
* ``session``: start Julia once (``jl``, ``start_julia``, ``started``), the call lock, and
  ``call``, the only way into DiffBridge; the only ``import juliacall`` in bridge;
* ``errors``: Julia exceptions as bridge errors (the one translation point);
* ``arrays``: the array crossings, the only place copies are made for Julia, and the
  zero-copy views back;
* ``backend``: the Backend object (``bridge._julia.backend:BACKEND``).

Importing this package is cheap: it neither starts Julia nor imports juliacall or the
backend.
"""

from __future__ import annotations

from .detection import INSTALL_HINT, JULIA_COMPAT, JuliaStatus, detect, status
from .errors import make_julia_error, short_julia_message, translate_exception
from .session import call, jl, start_julia, started

__all__ = [
    "INSTALL_HINT",
    "JULIA_COMPAT",
    "JuliaStatus",
    "call",
    "detect",
    "jl",
    "make_julia_error",
    "short_julia_message",
    "start_julia",
    "started",
    "status",
    "translate_exception",
]
