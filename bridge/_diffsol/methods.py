"""Which diffsol method runs for each algorithm name, and which gradient for each sensealg.

=============================  ===========  =============================================
DifferentialEquations.jl       diffsol      why
=============================  ===========  =============================================
``Tsit5``, ``DP5``, ``BS3``,   ``tsit45``   diffsol's only explicit method (Tsitouras 5(4))
``Vern7``, ``Vern9``
``Rodas5P``, ``Rosenbrock23``, ``bdf``      variable-order BDF with its Jacobian from the
``FBDF``, ``QNDF``                          compiled model: diffsol's workhorse for stiff
                                            problems (no Rosenbrock methods in diffsol)
``KenCarp4``, ``RadauIIA5``    ``esdirk34``  the one-step implicit method (ESDIRK 3(4))
``TRBDF2``                     ``tr_bdf2``   the same method
``auto``                       tsit45, then  tsit45 with a step-size floor of ``AUTO_FLOOR``
                               bdf           of the span; a step rejected below it means
                                            stiffness (or a singularity): bdf takes over
=============================  ===========  =============================================

``auto`` was measured with bench/bench_diffsol.py (docs/diffsl.md): Lotka–Volterra at 1e-8
runs tsit45 (0.94–1.06x tsit45 alone; bdf is 2–3x slower); Robertson gives up on tsit45 at
its first rejected step and runs bdf (1.01–1.21x bdf alone).

Sensitivity methods: ``ForwardDiffSensitivity`` is diffsol's forward sensitivities; every
adjoint name (``GaussAdjoint``, ``InterpolatingAdjoint``, ``QuadratureAdjoint``,
``BacksolveAdjoint``) is diffsol's discrete adjoint (checkpointed forward solve, then a
backward solve per pullback); ``auto`` is forward up to ``FORWARD_MAX_INPUTS`` inputs
(n + m: the states, because u0 are inputs, and the parameters), else the adjoint.
"""

from __future__ import annotations

#: bridge algorithm name -> diffsol method; "auto" is decided per problem (see above).
METHODS: dict[str, str] = {
    "auto": "auto",
    "Tsit5": "tsit45",
    "Vern7": "tsit45",
    "Vern9": "tsit45",
    "DP5": "tsit45",
    "BS3": "tsit45",
    "Rodas5P": "bdf",
    "Rosenbrock23": "bdf",
    "FBDF": "bdf",
    "QNDF": "bdf",
    "KenCarp4": "esdirk34",
    "RadauIIA5": "esdirk34",
    "TRBDF2": "tr_bdf2",
}

#: diffsol's explicit methods: the ones that run away on stiff problems.
EXPLICIT = frozenset({"tsit45"})

#: auto's tsit45 gives way to bdf after a rejected step smaller than this fraction of the span.
AUTO_FLOOR = 1e-5

#: bridge sensealg name -> "forward", "adjoint" or "auto".
SENSEALG_MODES: dict[str, str] = {
    "auto": "auto",
    "ForwardDiffSensitivity": "forward",
    "GaussAdjoint": "adjoint",
    "InterpolatingAdjoint": "adjoint",
    "QuadratureAdjoint": "adjoint",
    "BacksolveAdjoint": "adjoint",
}

#: ``auto`` uses forward sensitivities up to this many inputs (n + m). Measured with
#: bench/bench_diffsol.py (docs/diffsl.md): the adjoint wins from n + m = 9 on a sparse
#: chain (9x at 99) but only from ~60 on dense coupling (forward 2.8x faster at 12);
#: at 30 the wrong choice costs at most ~1.9x either way, and forward is the more accurate.
FORWARD_MAX_INPUTS = 30


#: (method, kind of solve) -> the method that runs instead, and why (measured; docs/diffsl.md).
GRADIENT_METHODS: dict[tuple[str, str], tuple[str, str]] = {
    ("bdf", "adjoint"): (
        "esdirk34",
        "esdirk34 for the adjoint: diffsol's BDF adjoint was 100-1000x less accurate",
    ),
    ("tr_bdf2", "adjoint"): (
        "esdirk34",
        "esdirk34 for the adjoint: diffsol's TR-BDF2 adjoint was 100x less accurate",
    ),
    ("tr_bdf2", "fwd_sens"): (
        "bdf",
        "bdf for the sensitivities: diffsol's TR-BDF2 sensitivities were 14% off on Robertson",
    ),
}


def gradient_method(method: str, kind: str) -> tuple[str, str]:
    """The method that runs a solve of ``kind`` for ``method``, and a note when it differs.

    Example
    -------
    >>> gradient_method("bdf", "adjoint")[0], gradient_method("bdf", "fwd_sens")
    ('esdirk34', ('bdf', ''))
    """
    return GRADIENT_METHODS.get((method, kind), (method, ""))


def diffsol_method(alg: str) -> str:
    """The diffsol method for an algorithm name ("auto" stays "auto").

    Example
    -------
    >>> diffsol_method("Rodas5P"), diffsol_method("Tsit5")
    ('bdf', 'tsit45')
    """
    return METHODS[alg]


def sensitivity_mode(sensealg: str, n_inputs: int) -> str:
    """``"forward"`` or ``"adjoint"`` for a sensealg name and the number of inputs (n + m).

    Example
    -------
    >>> sensitivity_mode("auto", 6), sensitivity_mode("auto", 500)
    ('forward', 'adjoint')
    >>> sensitivity_mode("GaussAdjoint", 2)
    'adjoint'
    """
    mode = SENSEALG_MODES[sensealg]
    if mode == "auto":
        return "forward" if n_inputs <= FORWARD_MAX_INPUTS else "adjoint"
    return mode


def label(alg: str, method: str, note: str = "") -> str:
    """What ``Solution.alg`` says, as the reference backend does.

    Example
    -------
    >>> label("Rodas5P", "bdf")
    'Rodas5P (diffsol: bdf)'
    >>> label("auto", "bdf", "tsit45 found the problem stiff")
    'auto (diffsol: bdf; tsit45 found the problem stiff)'
    """
    return f"{alg} (diffsol: {method}{'; ' + note if note else ''})"
