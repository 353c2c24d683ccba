# Differentiating a solve: Zygote.pullback through `solve(...; sensealg)`, with the
# SciMLSensitivity method asked for by name.

"""
    sensitivity_algorithm(name, job)

The SciMLSensitivity method for `name`; `"auto"` is `nothing` (SciMLSensitivity chooses).
QuadratureAdjoint's own quadrature tolerances (default 1e-6/1e-3) follow the solve's.
Generated models bring `vjp`/`vjp_p`/`paramjac`, which SciMLSensitivity uses whatever
`autojacvec` is; `false` (dense ForwardDiff Jacobians) is the fallback that never meets
the `autojacvec = true` traps of GaussAdjoint/QuadratureAdjoint. A user's Julia function has
no derivatives, so its adjoints use ReverseDiff, which handles mutation and branches.
"""
function sensitivity_algorithm(name::AbstractString, job::Job)
    vjp = has_vjp(job.rhs) ? false : ReverseDiffVJP()
    name == "auto" && return nothing
    name == "ForwardDiffSensitivity" && return ForwardDiffSensitivity()
    name == "GaussAdjoint" && return GaussAdjoint(; autojacvec = vjp)
    name == "InterpolatingAdjoint" && return InterpolatingAdjoint(; autojacvec = vjp)
    name == "QuadratureAdjoint" && return QuadratureAdjoint(;
        autojacvec = vjp, abstol = job.abstol, reltol = job.reltol,
    )
    name == "BacksolveAdjoint" && return BacksolveAdjoint(; autojacvec = vjp)
    throw(DiffBridgeError(
        "unknown sensitivity method $(repr(name)); known: auto, ForwardDiffSensitivity, " *
            "GaussAdjoint, InterpolatingAdjoint, QuadratureAdjoint, BacksolveAdjoint"
    ))
end

"""
    VJPHandle

What Python keeps between `vjp_job` and `pullback_job`: Zygote's pullback closure, whether
the forward solve succeeded, and how the user's save times sit among the differentiated
ones: `cols[k]` is the column of the differentiated output holding the user's k-th time.
"""
struct VJPHandle{B}
    back::B
    success::Bool
    retcode::String
    nstates::Int
    nparams::Int
    ncols::Int
    cols::Vector{Int}
end

"""
    with_endpoints(ts, (t0, t1)) -> Vector{Float64}

`ts` with t0 in front and t1 at the back when missing: the adjoints' output shape is only
well defined for a vector `saveat` containing both ends of tspan.
"""
function with_endpoints(ts::Vector{Float64}, (t0, t1))
    out = ts
    (isempty(out) || first(out) != t0) && (out = vcat(t0, out))
    last(out) != t1 && (out = vcat(out, t1))
    return out
end

"""
    vjp_job(job, sensealg) -> (U, t, retcode, stats, handle)

Solve under `Zygote.pullback` with the named sensitivity method. Returns what `solve_job`
returns, plus a `VJPHandle` for `pullback_job`. Safe to call with the GIL released.
"""
vjp_job(job::Job, sensealg::AbstractString) = Base.invokelatest(_vjp_job, job, String(sensealg))

function _vjp_job(job::Job, sensealg_name::String)
    sensealg = sensitivity_algorithm(sensealg_name, job)
    n, np = length(job.prob.u0), length(job.prob.p)
    wanted = job.saveat
    if wanted === nothing
        # "Every step": find the steps with a plain solve, then differentiate a solve saved
        # at exactly those times (an explicit saveat keeps every adjoint's output shape fixed).
        sol = solve(job.prob, job.alg; solve_kwargs(job)...)
        if !successful_retcode(sol)
            U, t, retcode, stats = solution_tuple(sol, job)
            handle = VJPHandle(nothing, false, retcode, n, np, length(t), collect(1:length(t)))
            return (U, t, retcode, stats, handle)
        end
        wanted = Vector{Float64}(sol.t)
    end
    ts = with_endpoints(wanted, job.prob.tspan)
    kwargs = (; common_kwargs(job)..., saveat = ts, sensealg = sensealg)
    seen = Ref{Any}(nothing)
    function forward(u0, p)
        sol = solve(job.prob, job.alg; u0 = u0, p = p, kwargs...)
        ignore_derivatives() do
            seen[] = (Vector{Float64}(sol.t), sol.retcode, stats_tuple(sol.stats))
        end
        return Array(sol)
    end
    # No parameters: differentiate u0 alone and solve with `NullParameters`, which
    # SciMLSensitivity special-cases. An empty `p` reaches ForwardDiffSensitivity's dp thunk
    # (what "auto" picks for small problems), which divides by its chunk size, 0 here
    # (`src/concrete_solve.jl:1305-1316` in 7.112.3).
    Y, back = if isempty(job.prob.p)
        Zygote.pullback(u0 -> forward(u0, SciMLBase.NullParameters()), job.prob.u0)
    else
        Zygote.pullback(forward, job.prob.u0, job.prob.p)
    end
    tsol, retcode, stats = seen[]
    cols = user_columns(tsol, wanted)
    U = cols == 1:length(tsol) ? Y : Y[:, cols]
    handle = VJPHandle(back, successful_retcode(retcode), retcode_name(retcode), n, np,
        length(tsol), cols)
    return (U, tsol[cols], retcode_name(retcode), stats, handle)
end

"""
    user_columns(tsol, wanted) -> Vector{Int}

Where the user's save times sit among the differentiated solve's: the adjoints may add
tspan's ends, and the continuous adjoints return their save times sorted ascending even
when time runs backwards. Save times are stored exactly as given, so equality is safe.
"""
function user_columns(tsol::AbstractVector, wanted::AbstractVector)
    where_saved = Dict(t => j for (j, t) in enumerate(tsol))
    return [where_saved[t] for t in wanted if haskey(where_saved, t)]
end

"""
    pullback_job(handle, cot) -> (du0::Vector{Float64}, dp::Vector{Float64})

Run the pullback for a cotangent `cot` of size (n, nt), i.e. dL/dU for the `U` that
`vjp_job` returned. Python passes the (nt, n) C-ordered NumPy cotangent transposed, which
PythonCall hands over as an n × nt `PyArray` over the same memory: it is read in place
(RecursiveArrayTools' `Array(sol)` adjoint copies it straight into its own buffers), never
copied here unless the user's save times are only some of the differentiated ones.
Refuses when the forward solve failed: SciMLSensitivity never checks the retcode.
"""
pullback_job(h::VJPHandle, cot::AbstractMatrix) = Base.invokelatest(_pullback_job, h, cot)

function _pullback_job(h::VJPHandle, cot::AbstractMatrix)
    h.success || throw(DiffBridgeError(
        "the forward solve ended with retcode $(h.retcode); its gradients would be wrong"))
    size(cot) == (h.nstates, length(h.cols)) || throw(DimensionMismatch(
        "cotangent has size $(size(cot)), expected $((h.nstates, length(h.cols)))"))
    Ybar = cot
    if h.cols != 1:(h.ncols)
        Ybar = zeros(h.nstates, h.ncols)
        Ybar[:, h.cols] .= cot
    end
    grads = h.back(Ybar)
    # Zygote's `pullback` gives a bare `nothing` (not a tuple) when neither input has a gradient.
    du0, dp = grads === nothing ? (nothing, nothing) :
        length(grads) == 1 ? (only(grads), nothing) : grads
    return (dense_gradient(du0, h.nstates), dense_gradient(dp, h.nparams))
end

dense_gradient(::Nothing, n::Integer) = zeros(n)
dense_gradient(::AbstractZero, n::Integer) = zeros(n)
dense_gradient(g::AbstractArray, n::Integer) = Vector{Float64}(vec(g))
