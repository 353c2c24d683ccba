"""Tracing Python right-hand sides into SymPy models, and NumPy/Julia code generation.

``trace_model(f, n_states, n_params, param_spec, name=...)`` calls ``f(u, p, t)`` once with
symbolic arrays (``symarray.SymArray``), records a straight-line program (``tape.py``,
``tracer.py``), differentiates it by the chain rule over its intermediates
(``derivatives.py``), schedules programs for f, the Jacobians and the VJPs with common
subexpressions (``program.py``), and prints them as Python (``numpy_codegen.py``) and Julia
(``julia_codegen.py``). ``model.TracedModel`` ties it together as a ``bridge._model.Model``.
``trace_loss(loss, shape)`` traces a scalar loss of the saved states the same way (``loss.py``).

Every operation's spellings (SymPy, NumPy ufunc, ``math``, generated Python, Julia, ...) are
one row of ``ops.py``; a new target language adds a column there.
"""

from .loss import TracedLoss, trace_loss
from .model import TracedModel, trace_model

__all__ = ["TracedLoss", "TracedModel", "trace_loss", "trace_model"]
