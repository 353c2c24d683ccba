"""The exception hierarchy: every error bridge raises on purpose derives from BridgeError.

Bad input raises ``BridgeValueError`` / ``BridgeTypeError``, which are also ``ValueError`` /
``TypeError``, so ``except ValueError`` works as a user would expect.
"""

from __future__ import annotations

import os
import sys


class BridgeError(Exception):
    """Base class of every error raised by bridge on purpose."""


class BridgeValueError(BridgeError, ValueError):
    """An argument has the right type but a bad value (wrong length, NaN, unknown name...)."""


class BridgeTypeError(BridgeError, TypeError):
    """An argument has the wrong type."""


class BridgeAttributeError(BridgeError, AttributeError):
    """An attribute that cannot be assigned (e.g. ``prob.p = ...``: use ``prob.remake``)."""


class BackendUnavailableError(BridgeError):
    """A backend was asked for by name, but it cannot run on this machine (not installed)."""


class JuliaUnavailableError(BackendUnavailableError):
    """The Julia backend was asked for, but no usable Julia installation was found."""


class BackendUnsupportedError(BridgeValueError):
    """The backend asked for is installed but cannot run this problem; the message says why
    (e.g. ``trace=False`` or a ``JuliaFunction`` on diffsol, an operation DiffSL lacks)."""


class TraceError(BridgeError):
    """A Python right-hand side could not be traced into a symbolic model."""


class GradientUnavailableError(BridgeError):
    """Gradients were asked of a problem that cannot provide them (e.g. ``trace=False``)."""


class SolveFailedError(BridgeError):
    """A solve ended without success where success is required (e.g. before a pullback)."""

    def __init__(self, message: str, retcode: str | None = None) -> None:
        super().__init__(message)
        self.retcode = retcode

    @classmethod
    def of(cls, retcode: str, what: str) -> SolveFailedError:
        """The one wording of a failed solve: ``what`` says what the success was needed for.

        Example
        -------
        >>> err = SolveFailedError.of("MaxIters", "its gradients would be wrong")
        >>> err.retcode, str(err).split(";")[0]
        ('MaxIters', 'the solve ended with retcode MaxIters, so its gradients would be wrong')
        """
        return cls(
            f"the solve ended with retcode {retcode}, so {what}; fix the problem "
            "(tolerances, maxiters, alg) and try again",
            retcode=retcode,
        )


class JuliaError(BridgeError):
    """An exception raised inside Julia, carrying the Julia exception type and a short message.

    Attributes
    ----------
    julia_type : str
        The Julia type name of the exception, e.g. ``"DimensionMismatch"``.
    message : str
        A short, single-paragraph message (no type-parameter walls).
    """

    def __init__(self, julia_type: str, message: str) -> None:
        super().__init__(f"{julia_type}: {message}")
        self.julia_type = julia_type
        self.message = message


# -- warnings ----------------------------------------------------------------------------------


class BridgeWarning(UserWarning):
    """Base class of every warning bridge emits on purpose (filter them all with this)."""


class BridgeBackendWarning(BridgeWarning):
    """Emitted once per process when ``backend="auto"`` cannot use the best engine."""


class SolverWarning(BridgeWarning):
    """A solve ended without success; the Solution holds the retcode and partial trajectory."""


class GradientWarning(BridgeWarning):
    """A gradient was computed, but may be inaccurate; the message says why and where."""


def user_stacklevel() -> int:
    """The ``stacklevel`` for ``warnings.warn`` that names the first frame outside bridge.

    Called from the function that warns; its callers inside bridge are skipped, so the
    warning points at the user's line however deep in bridge it was raised.
    """

    here = os.path.dirname(os.path.abspath(__file__))
    frame = sys._getframe(1)
    level = 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(here):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level
