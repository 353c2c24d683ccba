"""A per-state abstol on diffsol: the model in scaled states, so that one atol means n.

pydiffsol takes one absolute tolerance. With the per-state tolerances ``atol_i`` and
``a = min_i atol_i``, diffsol integrates the scaled states ``v_i = u_i / s_i`` with
``s_i = atol_i / a``: its error test on v, ``|err(v_i)| <= a + rtol |v_i|``, is exactly
``|err(u_i)| <= atol_i + rtol |u_i|`` on u. Forward sensitivities are scaled the same way
(so each state's sensitivities have its own tolerance, as on the reference engine).

The scaled DiffSL is the model's own (``diffsl_source`` or ``diffsl_stop_source``), with
the state block rewritten: the state is ``v``, the inputs ``ic0..`` are v's initial values,
``x0 { s0 * v0 }`` ... rebuild u under the names the rest of the text reads, and the
right-hand side is divided by s elementwise::

    u_i { v0 = ic0, v1 = ic1 }
    x0 { 2.5 * v0 }
    x1 { 1.0 * v1 }
    ... (the model's intermediates, unchanged)
    fu_i { <the model's F_i elements> }
    invs_i { 0.4, 1.0 }
    F_i { fu_i * invs_i }

Everything the engine's integrator sees (inputs, states, sensitivities, adjoint
cotangents) is in v; ``Scaling`` converts at the boundary (``bridge/_diffsol/segments.py``).

Example
-------
>>> sc = Scaling.of(np.array([1e-6, 1e-8]))
>>> sc.scales, sc.to_u(np.array([[1.0, 1.0]]))
(array([100.,   1.]), array([[100.,   1.]]))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._model import FloatArray


def why_not(abstol: FloatArray) -> str | None:
    """None when a per-state abstol can be made exact by scaling, else the reason."""
    if float(abstol.min()) == 0.0 and float(abstol.max()) > 0.0:
        i = int(np.argmin(abstol))
        return (
            f"a per-state abstol with a zero entry (abstol[{i}] = 0.0) next to positive ones: "
            "diffsol's one absolute tolerance is scaled per state, and no scale turns a "
            "positive tolerance into zero; give that state a small positive abstol instead"
        )
    return None


def _block(lines: list[str], head: str) -> tuple[int, int]:
    """The line range [start, end) of the tensor block that begins with ``head``."""
    start = next(i for i, line in enumerate(lines) if line.startswith(head))
    end = start
    while not lines[end].rstrip().endswith("}"):
        end += 1
    return start, end + 1


@dataclass(frozen=True)
class Scaling:
    """The per-state scales s (u = s v); ``None`` scales is the identity (no rewrite)."""

    scales: FloatArray

    @classmethod
    def of(cls, abstol: FloatArray) -> Scaling:
        low = float(abstol.min())
        scales = np.ones_like(abstol) if low == 0.0 else np.asarray(abstol) / low
        return cls(np.ascontiguousarray(scales, dtype=np.float64))

    def key(self) -> tuple[float, ...]:
        return tuple(float(x) for x in self.scales)

    def source(self, text: str) -> str:
        """The scaled DiffSL of a model's source (see the module docstring)."""
        lines = text.rstrip("\n").split("\n")
        n = len(self.scales)
        a, b = _block(lines, "u_i {")
        states = [f"v{i} = ic{i}" for i in range(n)]
        rebuilt = [f"x{i} {{ {float(s)!r} * v{i} }}" for i, s in enumerate(self.scales)]
        lines[a:b] = [f"u_i {{ {', '.join(states)} }}", *rebuilt]
        a, b = _block(lines, "F_i {")
        body = lines[a:b]
        body[0] = "fu_i {" + body[0][len("F_i {") :]
        inverse = ", ".join(repr(1.0 / float(s)) for s in self.scales)
        lines[a:b] = [*body, f"invs_i {{ {inverse} }}", "F_i { fu_i * invs_i }"]
        return "\n".join(lines) + "\n"

    # -- conversions (v: what diffsol integrates; u: the user's states) ---------------------
    def to_u(self, v: FloatArray) -> FloatArray:
        """States (..., n) in v to u."""
        return np.asarray(v) * self.scales

    def to_v(self, u: FloatArray) -> FloatArray:
        """States (..., n) in u to v."""
        return np.asarray(u) / self.scales

    def sens_to_u(self, sens: FloatArray, m: int) -> FloatArray:
        """diffsol's sensitivities (nt, m + n, n) of v w.r.t. (p, v0) as those of u w.r.t.
        (p, u0): ∂u_i/∂p_j = s_i ∂v_i/∂p_j and ∂u_i/∂u0_l = s_i ∂v_i/∂v0_l / s_l."""
        out = sens * self.scales[None, None, :]
        out[:, m:, :] /= self.scales[None, :, None]
        return out

    def cotangent_to_v(self, c: FloatArray) -> FloatArray:
        """A cotangent on u (..., n) as one on v: dL/dv = s dL/du."""
        return np.asarray(c) * self.scales

    def gradient_to_u(self, g_v0: FloatArray) -> FloatArray:
        """dL/dv0 (n,) as dL/du0 = dL/dv0 / s."""
        return np.asarray(g_v0) / self.scales


__all__ = ["Scaling", "why_not"]
