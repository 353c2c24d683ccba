"""The SciPy reference backend: runs everywhere, and is the oracle for the Julia backend.

Modules, one concept each: ``methods`` (algorithm name -> SciPy solver), ``driver`` (the
step loop: saving, maxiters, NaN detection, the pace check that stops hopeless runs early,
progress, stats), ``retcodes``, ``solve``, ``forward``
(forward sensitivities), ``adjoint`` (interpolating adjoint), ``backend`` (the Backend
object and the sensealg mapping). Hand-written models for tests live in tests/handmodel.py.
"""

from __future__ import annotations

from .backend import ReferenceBackend

BACKEND = ReferenceBackend()

__all__ = ["BACKEND", "ReferenceBackend"]
