# Zygote on arbitrary Julia code, for `bridge.zygote`: gradients and pullbacks of a
# function given as a function object or as source text (loaded once per key).

# Arguments arrive from Python as PyArrays over NumPy memory: copied once into Arrays,
# because Zygote's rules and projections are written for ordinary arrays.
julia_arg(x::AbstractArray{<:Real}) = Array{Float64}(x)
julia_arg(x::Bool) = x
julia_arg(x::Real) = Float64(x)
julia_arg(x) = x

# What goes back to Python: Float64 arrays (seen from NumPy without copying) and floats.
python_value(y::Array{Float64}) = y
python_value(y::AbstractArray{<:Real}) = Array{Float64}(y)
python_value(y::Real) = Float64(y)
python_value(y) = y

zero_like(x::AbstractArray) = zeros(size(x))
zero_like(::Real) = 0.0
zero_like(_) = nothing

# Zygote reports "no gradient" as `nothing` (or a ChainRules zero): give zeros shaped like x.
python_grad(::Nothing, x) = zero_like(x)
python_grad(::AbstractZero, x) = zero_like(x)
python_grad(g, x) = python_value(g)

"""
    zygote_gradient(f, args...) -> Tuple

`Zygote.gradient(f, args...)` with NumPy-friendly results: one entry per argument, zeros
where Zygote found no dependence. `f` must return a scalar.
"""
function zygote_gradient(f, args...)
    xs = map(julia_arg, args)
    grads = Base.invokelatest(Zygote.gradient, f, xs...)
    return map(python_grad, grads, xs)
end

"""
    zygote_gradient_source(key, src, args...)

`zygote_gradient` of the function that `src` evaluates to (loaded once per `key`).
"""
zygote_gradient_source(key::AbstractString, src::AbstractString, args...) =
    zygote_gradient(load_function(key, src), args...)

"""
    ZygotePullback

Zygote's pullback closure, kept alive by Python between `zygote_pullback` and `zygote_back`.
"""
struct ZygotePullback{B, X}
    back::B
    xs::X
end

"""
    zygote_pullback(f, args...) -> (y, handle)

`Zygote.pullback(f, args...)`: the value (arrays as Float64 arrays) and a handle for
`zygote_back`.
"""
function zygote_pullback(f, args...)
    xs = map(julia_arg, args)
    y, back = Base.invokelatest(Zygote.pullback, f, xs...)
    return (python_value(y), ZygotePullback(back, xs))
end

zygote_pullback_source(key::AbstractString, src::AbstractString, args...) =
    zygote_pullback(load_function(key, src), args...)

"""
    zygote_back(handle, ybar) -> Tuple

Apply the pullback to the cotangent `ybar` (shaped like `y`): one gradient per argument.
"""
function zygote_back(h::ZygotePullback, ybar)
    grads = Base.invokelatest(h.back, julia_arg(ybar))
    # Zygote's `pullback` gives a bare `nothing` (not a tuple) when no argument has a gradient.
    grads === nothing && (grads = map(_ -> nothing, h.xs))
    return map(python_grad, grads, h.xs)
end
