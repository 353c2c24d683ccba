"""bridge.zygote: Zygote gradients and pullbacks of Julia code.

Input checks and the refusal without Julia run everywhere; the gradients themselves need
Julia (marked ``julia``).
"""

from __future__ import annotations

import numpy as np
import pytest

import bridge
import bridge.zygote as zygote
from bridge import _julia


def test_python_callables_are_refused_with_the_alternative():
    with pytest.raises(bridge.BridgeTypeError, match=r"Julia source text.*bridge\.torch"):
        zygote.gradient(lambda x: (x**2).sum(), np.ones(3))


@pytest.mark.parametrize("bad", ["", "   "])
def test_empty_source_is_refused(bad):
    with pytest.raises(bridge.BridgeValueError, match="empty"):
        zygote.gradient(bad, 1.0)


@pytest.mark.parametrize("arg", [np.array([1j]), np.array(["a"]), True])
def test_non_real_arguments_are_refused(arg):
    with pytest.raises(bridge.BridgeTypeError, match="argument 0"):
        zygote.gradient("x -> sum(x)", arg)


def test_reference_backend_has_no_zygote():
    with pytest.raises(bridge.JuliaUnavailableError, match="needs the Julia backend"):
        zygote.gradient("x -> sum(x)", np.ones(2), backend="reference")
    with pytest.raises(bridge.JuliaUnavailableError, match="needs the Julia backend"):
        zygote.pullback("x -> x", np.ones(2), backend="reference")


def test_without_julia_the_error_says_why_and_how_to_fix(monkeypatch):
    status = _julia.JuliaStatus(usable=False, reason="no Julia executable (test)")
    monkeypatch.setattr(_julia, "status", lambda refresh=False: status)
    with pytest.raises(bridge.JuliaUnavailableError) as info:
        zygote.gradient("x -> sum(abs2, x)", np.arange(3.0))
    assert "no Julia executable (test)" in str(info.value)
    assert "python -m bridge install" in str(info.value)


# ------------------------------------------------------------------------- with Julia


@pytest.mark.julia
def test_gradient_of_source_text():
    (g,) = zygote.gradient("x -> sum(abs2, x)", np.arange(3.0))
    np.testing.assert_array_equal(g, [0.0, 2.0, 4.0])
    assert isinstance(g, np.ndarray) and g.dtype == np.float64


@pytest.mark.julia
def test_gradient_of_several_arguments_gives_zeros_where_there_is_no_dependence():
    gx, ga, gb = zygote.gradient("(x, a, b) -> a * sum(abs2, x)", np.array([1.0, 2.0]), 3, 7.0)
    np.testing.assert_array_equal(gx, [6.0, 12.0])
    assert ga == 5.0 and gb == 0.0


@pytest.mark.julia
def test_matrix_argument_keeps_its_shape_and_index_order():
    w = np.arange(6.0).reshape(2, 3)
    (g,) = zygote.gradient("W -> sum(W .* [1 2 3; 4 5 6])", w)
    np.testing.assert_array_equal(g, [[1, 2, 3], [4, 5, 6]])


@pytest.mark.julia
def test_gradient_of_a_julia_function_object():
    f = _julia.jl().seval("x -> sum(sin, x)")
    x = np.array([0.0, 1.0])
    (g,) = zygote.gradient(f, x)
    np.testing.assert_allclose(g, np.cos(x))


@pytest.mark.julia
def test_pullback_of_an_array_valued_function():
    y, back = zygote.pullback("(x, a) -> a .* x .^ 2", np.array([1.0, 2.0]), 3.0)
    np.testing.assert_array_equal(y, [3.0, 12.0])
    gx, ga = back(np.array([1.0, 1.0]))
    np.testing.assert_array_equal(gx, [6.0, 12.0])
    assert ga == 5.0


@pytest.mark.julia
def test_array_output_in_gradient_is_a_julia_error():
    with pytest.raises(bridge.JuliaError):
        zygote.gradient("x -> 2 .* x", np.ones(2))


@pytest.mark.julia
def test_syntax_error_is_a_julia_error():
    with pytest.raises(bridge.JuliaError) as info:
        zygote.gradient("x -> sum(x", np.ones(2))
    assert info.value.julia_type in {"ParseError", "ErrorException"}
