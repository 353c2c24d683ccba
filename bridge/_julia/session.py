"""The Julia session: starting Julia once, the call lock, and every call into it.

``jl()`` starts Julia lazily through juliacall (the only ``import juliacall`` in bridge) and
loads DiffBridge; ``started()`` says whether that has happened, without starting anything.

Every touch of Julia that bridge makes happens with ``CALL_LOCK`` held by the touching
thread: looking a function up on the module, the call itself, reading the result's array
interface, describing a Julia exception, and dropping juliacall objects. Results leave
``call()`` as Python objects only: NumPy views of Julia arrays (owned by an
``arrays.JuliaMemory``), and ``JuliaHandle`` for opaque Julia values. Both hand their
juliacall object to ``release`` when Python is done with it, which drops it at once if the
lock is free (or already held by this thread) and otherwise queues it for the next call.
So a thread that drops a solution while another thread's solve runs in Julia with the GIL
released (``nogil=True``) never enters Julia beside it.

Signal handling: with more than one Julia thread (``PYTHON_JULIACALL_THREADS`` or
``JULIA_NUM_THREADS`` > 1, ``detection.thread_setting``) Julia's GC stops threads through
deliberate segfaults, which kill the process unless Julia handles signals, so
``PYTHON_JULIACALL_HANDLE_SIGNALS=yes`` is then set (unless the user set it either way);
with one Julia thread the lock alone keeps Julia single-threaded, and Ctrl-C keeps raising
``KeyboardInterrupt``. Julia objects a user obtains through ``jl()`` are the user's: bridge
cannot lock around them.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import warnings
from typing import Any

from .._errors import JuliaUnavailableError
from . import arrays
from .detection import INSTALL_HINT, handle_signals_setting, status, thread_setting
from .errors import short_julia_message, translate_exception


class CallLock:
    """A re-entrant lock that can say whether the current thread holds it.

    Example
    -------
    >>> lock = CallLock()
    >>> with lock:
    ...     lock.held()
    True
    >>> lock.held()
    False
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._owner: int | None = None
        self._depth = 0

    def acquire(self, blocking: bool = True) -> bool:
        if not self._lock.acquire(blocking):
            return False
        self._owner = threading.get_ident()
        self._depth += 1
        return True

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._owner = None
        self._lock.release()

    def held(self) -> bool:
        """Whether the calling thread holds the lock."""
        return self._owner == threading.get_ident()

    def __enter__(self) -> CallLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


#: Serialises every touch of Julia: juliacall does not support several Python threads in
#: Julia at once. A thread waiting here has released the GIL, so with ``nogil=True`` other
#: Python threads keep running Python while one solve runs in Julia.
CALL_LOCK = CallLock()
#: juliacall objects whose Python owners went away while another thread held the lock.
_PENDING: list[Any] = []

_MAIN: Any = None
_START_LOCK = threading.RLock()
#: Starts slower than this (precompilation) end with a "ready" line.
_SLOW_START_S = 5.0


def release(owner: Any) -> None:
    """Drop the juliacall object in ``owner._value`` with the call lock held: now if the
    lock is free to this thread, else at the start of the next ``call()``.

    It takes the owner, not the object, so that no frame keeps a reference past the lock.
    Never blocks: it runs in ``__del__``.
    """
    if CALL_LOCK.acquire(blocking=False):
        try:
            owner._value = None
        finally:
            CALL_LOCK.release()
    else:
        _PENDING.append(owner._value)
        owner._value = None


def _drop_pending() -> None:
    """Drop the queued juliacall objects; the caller holds the lock."""
    while _PENDING:
        _PENDING.pop()


class JuliaHandle:
    """An opaque Julia value kept for a later ``call()`` (a prepared job, a pullback).

    Pass it back as an argument; it is unwrapped with the lock held. When Python drops the
    handle, the Julia value is released through ``release``.
    """

    __slots__ = ("_value",)

    def __init__(self, value: Any) -> None:
        self._value = value

    def __del__(self) -> None:
        if self._value is not None:
            release(self)

    def __repr__(self) -> str:
        return "<bridge Julia handle>"


def _unwrap(arg: Any) -> Any:
    return arg._value if isinstance(arg, JuliaHandle) else arg


def _convert(result: Any) -> Any:
    return arrays.from_julia(result, release=release, handle=JuliaHandle)


def _set_default_env() -> None:
    """juliacall's documented settings, only where the user has not set them."""
    st = status()
    if st.executable:
        os.environ.setdefault("PYTHON_JULIACALL_EXE", st.executable)
        if st.project:
            os.environ.setdefault("PYTHON_JULIACALL_PROJECT", st.project)
    if thread_setting().several and handle_signals_setting() is None:
        os.environ["PYTHON_JULIACALL_HANDLE_SIGNALS"] = "yes"
    os.environ.setdefault("PYTHON_JULIAPKG_OFFLINE", "yes")


def started() -> bool:
    """Whether Julia has been started in this process (never starts it).

    Example
    -------
    >>> isinstance(started(), bool)
    True
    """
    return _MAIN is not None


def jl() -> Any:
    """Start Julia (once) and return its ``Main`` module with DiffBridge loaded.

    Raises JuliaUnavailableError when no usable Julia is installed; never downloads.
    """
    global _MAIN
    if _MAIN is not None:
        return _MAIN
    with _START_LOCK, CALL_LOCK:
        if _MAIN is not None:
            return _MAIN
        st = status()
        if not st.usable:
            raise JuliaUnavailableError(
                f"Julia backend unavailable: {st.reason}. To fix: {INSTALL_HINT}."
            )
        _set_default_env()
        if "torch" in sys.modules:
            warnings.warn(
                "torch was imported before Julia started; juliacall documents crashes with "
                "this import order. Import bridge (and call bridge.start_julia()) before torch.",
                RuntimeWarning,
                stacklevel=3,
            )
        print(
            "bridge: starting Julia and loading DiffBridge (the first run after install "
            "precompiles OrdinaryDiffEq, SciMLSensitivity and Zygote, which can take several "
            "minutes; later starts take seconds)...",
            file=sys.stderr,
            flush=True,
        )
        started_at = time.perf_counter()
        try:
            import juliacall
        except OSError as exc:  # URLError when juliapkg would need to download
            raise JuliaUnavailableError(
                f"could not start Julia without a download ({exc}). To fix: {INSTALL_HINT}."
            ) from exc
        main = juliacall.Main
        failure = None
        try:
            main.seval("import DiffBridge")
        except Exception as exc:  # not via translate_exception: that needs DiffBridge
            failure = short_julia_message(str(exc))
        if failure is not None:
            raise JuliaUnavailableError(
                "Julia started, but loading bridge's Julia package DiffBridge failed: "
                f"{failure}. To fix: {INSTALL_HINT}."
            )
        elapsed = time.perf_counter() - started_at
        if elapsed > _SLOW_START_S:
            print(f"bridge: Julia is ready ({elapsed:.0f} s).", file=sys.stderr, flush=True)
        _MAIN = main
        return _MAIN


def start_julia() -> None:
    """Start Julia and load DiffBridge now (else it starts on the first Julia solve).

    Call it before importing torch when the Julia backend will be used: juliacall documents
    crashes when torch is loaded first. Raises JuliaUnavailableError without a usable Julia.

    Example
    -------
    >>> import bridge
    >>> bridge.start_julia()  # doctest: +SKIP
    """
    jl()


def _describe(julia_exception: Any) -> tuple[str, str]:
    """(type name, showerror text) of a Julia exception, asked of DiffBridge (lock held)."""
    diffbridge = _MAIN.DiffBridge
    return (
        str(diffbridge.error_type_name(julia_exception)),
        str(diffbridge.error_message(julia_exception)),
    )


def call(name: str, *args: Any, nogil: bool = False, **kwargs: Any) -> Any:
    """Call ``DiffBridge.<name>(args...; kwargs...)`` and return its result as Python objects.

    Arrays of numbers come back as NumPy views of Julia memory, other Julia values as
    ``JuliaHandle``s (pass them back as arguments), tuples as tuples; Julia exceptions are
    raised as bridge errors (``errors.translate_exception``). Everything from the lookup
    of ``name`` to the conversion of the result runs with ``CALL_LOCK`` held.

    With ``nogil=True`` the call releases the GIL while Julia runs (juliacall's
    ``_jl_call_nogil``): arguments are converted before and the result after, with the GIL
    held, so the Julia function must not touch Python objects other than reading arrays.
    """
    main = jl()
    error: BaseException | None = None
    with CALL_LOCK:
        _drop_pending()
        jargs = tuple(_unwrap(a) for a in args)
        fn = raw = None
        try:
            fn = getattr(main.DiffBridge, name)
            raw = fn._jl_call_nogil(*jargs, **kwargs) if nogil else fn(*jargs, **kwargs)
            result = _convert(raw)
        except Exception as exc:
            error = translate_exception(exc, _describe)
            if error is exc:
                raise
        finally:
            del fn, raw, jargs  # juliacall objects are dropped with the lock held
    if error is not None:
        # Raised here, outside the `except`, so that it carries no reference to the
        # juliacall exception (dropped above with the lock held).
        raise error
    return result
