"""How far a solve has got in t: a tqdm bar when asked for, else one notice when it runs long.

Any engine that steps in Python (the reference backend today) reports each accepted step's
time to a ``Progress``; engines that run a whole solve in one foreign call cannot.

* ``progress=True``: a tqdm bar over t, from t0 to t1 (the backward pass of an adjoint gets
  its own bar, from the last save point back to t0). tqdm is optional: without it, one
  ``BridgeWarning`` per process says so, and the solve runs with the notice below instead.
* ``progress=False`` (the default): silent, unless the solve is still running after
  ``NOTICE_AFTER_S`` seconds of wall time; then one line on stderr says where it is, how long
  the rest should take at the current rate, and how to get a bar. The notice is a print, not
  a warning: nothing is wrong yet, and it must show every time, not once per line of code.

Updates are cheap (a counter, and a clock read every ``_CHECK_EVERY`` steps), so the step
loop calls ``update`` on every accepted step.
"""

from __future__ import annotations

import sys
import threading
import time
import warnings
from typing import Any, TextIO

from ._errors import BridgeWarning

#: Wall-clock seconds after which a silent solve prints one notice (the default behaviour).
NOTICE_AFTER_S = 5.0

#: Read the clock every this many updates (a clock read costs ~50 ns; a step ~50 µs or more).
_CHECK_EVERY = 16

_warned_no_tqdm = False
_warn_lock = threading.Lock()


def _tqdm() -> Any:
    """The tqdm class, or None (warned about once per process) when tqdm is not installed."""
    global _warned_no_tqdm
    try:
        from tqdm.auto import tqdm
    except ImportError:
        with _warn_lock:
            first, _warned_no_tqdm = not _warned_no_tqdm, True
        if first:
            warnings.warn(
                "progress=True needs tqdm, which is not installed (pip install tqdm); solving "
                f"without a progress bar (a notice is printed if a solve runs past "
                f"{NOTICE_AFTER_S:g} s)",
                BridgeWarning,
                stacklevel=2,
            )
        return None
    return tqdm


class Progress:
    """Progress of one integration from ``t0`` towards ``t1`` (either direction).

    Parameters
    ----------
    t0, t1 : float
        Where the integration starts and where it ends.
    what : str
        What is running, for the bar and the notice (e.g. "solve of 'lv' with Tsit5").
    bar : bool
        Show a tqdm bar (``progress=True``); otherwise print one notice after a while.
    hint : str
        Appended to the notice (e.g. a suggestion of a stiff algorithm).
    stream : file, optional
        Where the notice goes (stderr by default).

    Example
    -------
    >>> import io
    >>> out = io.StringIO()
    >>> prog = Progress(0.0, 10.0, "solve of 'demo'", bar=False, stream=out, notice_after=0.0)
    >>> prog.update(2.5, steps=16)
    >>> prog.close()
    >>> "25%" in out.getvalue() and "progress=True" in out.getvalue()
    True
    """

    def __init__(
        self,
        t0: float,
        t1: float,
        what: str,
        *,
        bar: bool,
        hint: str = "",
        stream: TextIO | None = None,
        notice_after: float | None = None,
    ) -> None:
        self.t0, self.t1 = float(t0), float(t1)
        self.span = abs(self.t1 - self.t0) or 1.0
        self.what = what
        self.hint = hint
        self.stream = stream
        self.notice_after = NOTICE_AFTER_S if notice_after is None else notice_after
        self.started = time.perf_counter()
        self.noticed = False
        self._calls = 0
        self._done = 0.0
        self._bar: Any = None
        if bar:
            tqdm = _tqdm()
            if tqdm is not None:
                self._bar = tqdm(
                    total=self.span,
                    desc=f"bridge: {what}",
                    unit="",
                    bar_format="{l_bar}{bar}| {elapsed}<{remaining}{postfix}",
                    postfix=f"t={self.t0:.4g}",
                )

    @property
    def has_bar(self) -> bool:
        return self._bar is not None

    def update(self, t: float, steps: int = 0) -> None:
        """Record that the integration has reached ``t`` after ``steps`` accepted steps."""
        done = min(abs(float(t) - self.t0), self.span)
        if self._bar is not None:
            self._bar.set_postfix_str(f"t={float(t):.4g}", refresh=False)
            self._bar.update(done - self._done)
            self._done = done
            return
        self._done = done
        self._calls += 1
        if self.noticed or (self._calls - 1) % _CHECK_EVERY:
            return
        elapsed = time.perf_counter() - self.started
        if elapsed >= self.notice_after:
            self.noticed = True
            self._notice(float(t), steps, elapsed)

    def _notice(self, t: float, steps: int, elapsed: float) -> None:
        frac = self._done / self.span
        rest = f"; at this rate the rest takes about {_duration(elapsed * (1 - frac) / frac)}"
        print(
            f"bridge: the {self.what} has run {elapsed:.0f} s and reached t={t:.6g} "
            f"({100 * frac:.0f}% of the way from t={self.t0:g} to t={self.t1:g}"
            f"{f', {steps} steps' if steps else ''}){rest if frac > 0 else ''}. "
            f"Pass progress=True for a progress bar.{' ' + self.hint if self.hint else ''}",
            file=self.stream or sys.stderr,
            flush=True,
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _duration(seconds: float) -> str:
    """A rough duration for people.

    Example
    -------
    >>> _duration(42.0), _duration(4000.0), _duration(1e6)
    ('40 s', '1.1 h', '12 days')
    """
    if seconds < 90:
        return f"{max(10, round(seconds, -1)):.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"
