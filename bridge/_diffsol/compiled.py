"""Compiled models: one pydiffsol ``Ode`` per DiffSL source, cached in the process, picklable.

The DiffSL text depends on the model alone (inputs carry p and u0), so the sha256 of the
source is the cache key: every problem, ``remake`` and thread that runs the same model
shares one compiled ``Ode``. Compiling takes 0.2 s for small models and grows with model
size (docs/diffsl.md); restoring from diffsol's serialised bytes takes milliseconds.

A ``CompiledModel`` pickles as its source and those bytes (made once, then kept), and
unpickling puts it into the receiving process's cache, so a process pool or a Dask worker
that receives one compiled model reuses it for every member. pydiffsol keeps solver
settings (tolerances, method, start time) on the ``Ode`` object itself, so each solve
configures it and runs while holding the model's lock.

Example
-------
>>> import pickle
>>> source = "in_i { k = 0, ic0 = 0 }\\nu_i { x0 = ic0 }\\nF_i { -k*x0 }\\n"
>>> model = compiled(source)
>>> compiled(source) is model
True
>>> pickle.loads(pickle.dumps(model)) is model    # same process: the cached one
True
>>> model.nstates, model.ninputs
(1, 2)
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any

from . import pydiffsol


def source_key(source: str) -> str:
    """The cache key of a DiffSL source (sha256 hex)."""
    return hashlib.sha256(source.encode()).hexdigest()


class CompiledModel:
    """A compiled DiffSL model; ``ode`` is the pydiffsol ``Ode``, ``lock`` guards its settings."""

    def __init__(self, source: str, ode: Any) -> None:
        self.source = source
        self.key = source_key(source)
        self.ode = ode
        self.lock = threading.RLock()
        self.nstates = int(ode.nstates)
        self.ninputs = int(ode.nparams)
        self._state: bytes | None = None

    def recover(self) -> None:
        """Compile the source again after a Rust panic, which poisons the ``Ode``'s lock for
        good (every later call fails with "Failed to acquire lock on ODE solver")."""
        with self.lock:
            ds = pydiffsol()
            if self._state is not None:
                self.ode = ds.Ode._from_state_bytes(self._state)
            else:
                self.ode = ds.Ode(self.source, matrix_type=ds.nalgebra_dense)

    def state_bytes(self) -> bytes:
        """diffsol's serialised compiled model (computed on first use, then kept)."""
        with self.lock:
            if self._state is None:
                self._state = bytes(self.ode.__getstate__())
            return self._state

    def __reduce__(self) -> tuple[Any, tuple[str, bytes]]:
        return _restore, (self.source, self.state_bytes())

    def __repr__(self) -> str:
        return f"CompiledModel({self.key[:12]}, nstates={self.nstates}, ninputs={self.ninputs})"


_CACHE: dict[str, CompiledModel] = {}
_CACHE_LOCK = threading.Lock()
#: One lock per key being compiled, so two threads never compile the same model twice.
_COMPILING: dict[str, threading.Lock] = {}


def _cached(key: str, make: Any) -> CompiledModel:
    with _CACHE_LOCK:
        model = _CACHE.get(key)
        if model is not None:
            return model
        key_lock = _COMPILING.setdefault(key, threading.Lock())
    with key_lock:
        with _CACHE_LOCK:
            model = _CACHE.get(key)
        if model is None:
            model = make()
            with _CACHE_LOCK:
                _CACHE[key] = model
                _COMPILING.pop(key, None)
        return model


def compiled(source: str) -> CompiledModel:
    """The compiled model for a DiffSL source (compiled on first use in this process).

    Raises ``RuntimeError`` (pydiffsol's) if the source does not compile.
    """
    ds = pydiffsol()

    def make() -> CompiledModel:
        return CompiledModel(source, ds.Ode(source, matrix_type=ds.nalgebra_dense))

    return _cached(source_key(source), make)


def _restore(source: str, state: bytes) -> CompiledModel:
    ds = pydiffsol()

    def make() -> CompiledModel:
        model = CompiledModel(source, ds.Ode._from_state_bytes(state))
        model._state = state
        return model

    return _cached(source_key(source), make)


def cache_size() -> int:
    """How many compiled models this process holds."""
    with _CACHE_LOCK:
        return len(_CACHE)


__all__ = ["CompiledModel", "cache_size", "compiled", "source_key"]
