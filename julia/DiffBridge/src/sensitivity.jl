# Differentiating a solve: Zygote.pullback through `solve(...; sensealg)`, with the
# SciMLSensitivity method asked for by name.

# Sensitivity method names (as bridge/_algorithms.py spells them) -> constructors taking the
# state-VJP choice and the job. A fixed table: user text is looked up, never evaluated.
#
# Generated models bring `vjp`/`vjp_p`/`paramjac`, which SciMLSensitivity uses whatever
# `autojacvec` is; `false` (dense ForwardDiff Jacobians) is the fallback that never meets
# the `autojacvec = true` traps of GaussAdjoint/QuadratureAdjoint. A user's Julia function has
# no derivatives, so its adjoints use ReverseDiff, which handles mutation and branches.
# QuadratureAdjoint's own quadrature tolerances (default 1e-6/1e-3) follow the solve's.
# GaussAdjoint without parameters calls `length(::NullParameters)` (`gauss_adjoint.jl:533` in
# 7.112.3, a MethodError), so an empty `p` gets InterpolatingAdjoint with the same VJP, which
# guards that case (`interpolating_adjoint.jl:388`) and computes the same gradient.
const SENSEALGS = Dict{String, Any}(
    "auto" => (vjp, job) -> nothing,
    "ForwardDiffSensitivity" => (vjp, job) -> ForwardDiffSensitivity(),
    "GaussAdjoint" => (vjp, job) -> isempty(job.prob.p) ?
        InterpolatingAdjoint(; autojacvec = vjp) : GaussAdjoint(; autojacvec = vjp),
    "InterpolatingAdjoint" => (vjp, job) -> InterpolatingAdjoint(; autojacvec = vjp),
    "QuadratureAdjoint" => (vjp, job) -> QuadratureAdjoint(;
        autojacvec = vjp, abstol = minimum(job.abstol), reltol = job.reltol,
    ),
    "BacksolveAdjoint" => (vjp, job) -> BacksolveAdjoint(; autojacvec = vjp),
)

"""
    sensitivity_algorithm(name, job)

The SciMLSensitivity method for `name` (table `SENSEALGS`); `"auto"` is `nothing`
(SciMLSensitivity chooses).
"""
function sensitivity_algorithm(name::AbstractString, job::Job)
    ctor = get(SENSEALGS, name, nothing)
    if ctor === nothing
        known = join(sort!(collect(keys(SENSEALGS))), ", ")
        throw(DiffBridgeError("unknown sensitivity method $(repr(name)); known names: $known"))
    end
    return ctor(has_vjp(job.rhs) ? false : ReverseDiffVJP(), job)
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
    vjp_job(job, sensealg) -> (U, t, retcode, stats, events, handle)

Solve under `Zygote.pullback` with the named sensitivity method. Returns what `solve_job`
returns, plus a handle for `pullback_job`. Safe to call with the GIL released. A job with
events goes to `_vjp_events_job` (`jumps.jl`).

When time runs backwards (t1 < t0) the differentiated solve runs in reflected time s = -t
(`reflected_problem`), whatever the method: the continuous adjoints sort their save times
(`concrete_solve.jl:752` in SciMLSensitivity 7.112.3) while their loss callback counts down
from the last one (`adjoint_common.jl:837`, `:819`), which pairs cotangent columns with
mirrored times when tspan is reversed. In reflected time every method sees an ordinary
forward problem with the same solution at the same (negated) times.
"""
vjp_job(job::Job, sensealg::AbstractString) = Base.invokelatest(_vjp_job, job, String(sensealg))

function _vjp_job(job::Job, sensealg_name::String)
    job.events === nothing || return _vjp_events_job(job, sensealg_name)
    sensealg = sensitivity_algorithm(sensealg_name, job)
    n, np = length(job.prob.u0), length(job.prob.p)
    wanted = job.saveat
    if wanted === nothing
        # "Every step": find the steps with a plain solve, then differentiate a solve saved
        # at exactly those times (an explicit saveat keeps every adjoint's output shape fixed).
        sol = solve(job.prob, job.alg; solve_kwargs(job)...)
        successful_retcode(sol) ||
            return failed_vjp(sol, job, retcode_name(sol.retcode), stats_tuple(sol.stats))
        wanted = Vector{Float64}(sol.t)
    end
    t0, t1 = job.prob.tspan
    backwards = t1 < t0
    prob = backwards ? reflected_problem(job) : job.prob
    # Negation is exact in floating point, so reflected times map back to the user's exactly.
    ts = with_endpoints(backwards ? -wanted : wanted, prob.tspan)
    Y, back, tsolved, retcode, stats = differentiated_solve(job, prob, sensealg, ts, backwards)
    if !successful_retcode(retcode)
        # A continuous adjoint interpolates a failed forward solve at every save time (and
        # OrdinaryDiffEqCore's interpolation extrapolates, `src/dense/generic_dense.jl:833`),
        # hiding where it stopped: report a plain solve's partial trajectory instead, with
        # the retcode of the differentiated solve (the one the gradients would come from).
        sol = solve(job.prob, job.alg; solve_kwargs(job)...)
        return failed_vjp(sol, job, retcode_name(retcode), stats)
    end
    tsol = backwards ? -tsolved : tsolved
    cols = user_columns(tsol, wanted)
    U = cols == 1:length(tsol) ? Y : Y[:, cols]
    handle = VJPHandle(back, true, retcode_name(retcode), n, np, length(tsol), cols)
    events = event_tuple(EventLog(), job, Float64(t1))
    return (U, tsol[cols], retcode_name(retcode), stats, events, handle)
end

"""
    failed_vjp(sol, job, retcode, stats, log = EventLog())

What `vjp_job` returns for a failed solve: the plain solve's partial trajectory, the
retcode of the solve the gradients would come from, and a handle that refuses pullbacks.
"""
function failed_vjp(sol, job::Job, retcode::String, stats, log::EventLog = EventLog())
    U, t, _, _ = solution_tuple(sol, job)
    n, np = length(job.prob.u0), length(job.prob.p)
    handle = VJPHandle(nothing, false, retcode, n, np, length(t), collect(1:length(t)))
    return (U, t, retcode, stats, event_tuple(log, job, solved_until(job, sol, log)), handle)
end

"""
    differentiated_abstol(job, sensealg, prob)

The job's abstol for a differentiated solve. A per-state abstol reaches only
ForwardDiffSensitivity (its dual solve has the states' shape, and SciMLSensitivity picks
it for `nothing` when p is non-empty and length(u0) + length(p) <= 100,
`concrete_solve.jl:177`); the continuous adjoints pass the solve's keywords on to their
adjoint solve (`kwargs_init`, `concrete_solve.jl:600-610`, `:955`), whose state is longer
than u, so they get the smallest entry.
"""
function differentiated_abstol(job::Job, sensealg, prob)
    job.abstol isa Float64 && return job.abstol
    forward = sensealg isa ForwardDiffSensitivity ||
        (sensealg === nothing && !isempty(prob.p) && length(prob.u0) + length(prob.p) <= 100)
    return forward ? job.abstol : minimum(job.abstol)
end

"""
    differentiated_solve(job, prob, sensealg, ts, backwards) -> (Y, back, t, retcode, stats)

`Zygote.pullback` of `Array(solve(prob; saveat = ts, sensealg))` with respect to (u0, p)
(u0 alone for an empty p): the output, its pullback, and the solve's times, retcode and
stats. `prob` may be in reflected time (`backwards`); the job's tstops inside its span go
along (negated in reflected time).
"""
function differentiated_solve(job::Job, prob, sensealg, ts::Vector{Float64}, backwards::Bool)
    a, b = prob.tspan
    stops = filter(s -> min(a, b) < s < max(a, b), backwards ? -job.tstops : job.tstops)
    base = (; reltol = job.reltol, abstol = differentiated_abstol(job, sensealg, prob),
        maxiters = job.maxiters, verbose = quiet(), saveat = ts, sensealg = sensealg)
    # Assigned once: a captured variable assigned twice would be boxed inside `forward`.
    kwargs = isempty(stops) ? base : (; base..., tstops = stops)
    seen = Ref{Any}(nothing)
    function forward(u0, p)
        fsol = solve(prob, job.alg; u0 = u0, p = p, kwargs...)
        ignore_derivatives() do
            seen[] = (Vector{Float64}(fsol.t), fsol.retcode, stats_tuple(fsol.stats))
        end
        return Array(fsol)
    end
    # No parameters: differentiate u0 alone and solve with `NullParameters`, which
    # SciMLSensitivity special-cases. An empty `p` reaches ForwardDiffSensitivity's dp thunk
    # (what "auto" picks for small problems), which divides by its chunk size, 0 here
    # (`src/concrete_solve.jl:1305-1316` in 7.112.3).
    Y, back = if isempty(prob.p)
        Zygote.pullback(u0 -> forward(u0, SciMLBase.NullParameters()), prob.u0)
    else
        Zygote.pullback(forward, prob.u0, prob.p)
    end
    tsolved, retcode, stats = seen[]
    return Y, back, tsolved, retcode, stats
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
    return apply_back(h.back, cot, h.nstates, h.nparams, h.ncols, h.cols)
end

"""
    apply_back(back, cot, n, np, ncols, cols) -> (du0, dp)

Zygote's pullback `back` of an n × ncols output applied to `cot`, the cotangent of its
columns `cols` (the others get zero), as dense Float64 gradients.
"""
function apply_back(back, cot::AbstractMatrix, n::Integer, np::Integer, ncols::Integer, cols)
    Ybar = cot
    if cols != 1:ncols
        Ybar = zeros(n, ncols)
        Ybar[:, cols] .= cot
    end
    grads = back(Ybar)
    # Zygote's `pullback` gives a bare `nothing` (not a tuple) when neither input has a gradient.
    du0, dp = grads === nothing ? (nothing, nothing) :
        length(grads) == 1 ? (only(grads), nothing) : grads
    return (dense_gradient(du0, n), dense_gradient(dp, np))
end

dense_gradient(::Nothing, n::Integer) = zeros(n)
dense_gradient(::AbstractZero, n::Integer) = zeros(n)
dense_gradient(g::AbstractArray, n::Integer) = Vector{Float64}(vec(g))
