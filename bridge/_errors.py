"""The exception hierarchy: every error bridge raises on purpose derives from BridgeError.

Bad input raises ``BridgeValueError`` / ``BridgeTypeError``, which are also ``ValueError`` /
``TypeError``, so ``except ValueError`` works as a user would expect.
"""

from __future__ import annotations


class BridgeError(Exception):
    """Base class of every error raised by bridge on purpose."""


class BridgeValueError(BridgeError, ValueError):
    """An argument has the right type but a bad value (wrong length, NaN, unknown name...)."""


class BridgeTypeError(BridgeError, TypeError):
    """An argument has the wrong type."""


class JuliaUnavailableError(BridgeError):
    """The Julia backend was asked for, but no usable Julia installation was found."""


class TraceError(BridgeError):
    """A Python right-hand side could not be traced into a symbolic model."""


class GradientUnavailableError(BridgeError):
    """Gradients were asked of a problem that cannot provide them (e.g. ``trace=False``)."""


class SolveFailedError(BridgeError):
    """A solve ended without success where success is required (e.g. before a pullback)."""

    def __init__(self, message: str, retcode: str | None = None) -> None:
        super().__init__(message)
        self.retcode = retcode


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
