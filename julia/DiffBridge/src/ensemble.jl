# Ensembles: every member of one problem built here from stacked arrays and solved in one
# call from Python, on Julia's threads, with the GIL released (`ensemble="threads"`).
#
# Plain solves go through SciMLBase's `EnsembleProblem` + `EnsembleThreads` (SciMLBase
# 3.49.2 `src/ensemble/basic_ensemble_solve.jl`): a `prob_func(prob, ctx)` that builds member
# `ctx.sim_id` from its columns (`safetycopy = false`: it only reads shared data and allocates
# the member's own vectors) and an `output_func(sol, ctx)` that writes the member's states
# into one preallocated n × nt × N array and keeps nothing else of the solution.
#
# Gradients do not go through the ensemble solve: each member runs `_vjp_job` (its own
# `Zygote.pullback`, so its own Zygote `Context`) inside a threaded loop (`each_member`).
# Differentiating `solve(::EnsembleProblem)` with Zygote would go through SciMLBase's
# `∇tmap` (`ext/SciMLBaseZygoteExt.jl:371`), which runs every trajectory's `_pullback` on
# threads with one shared `Context`, whose lazily created `IdDict` cache (Zygote 0.7.12
# `src/compiler/interface.jl:16`, `grad_mut` in `src/lib/lib.jl:303`) is not thread-safe;
# it accumulates each trajectory's cotangent of the captured stacked arrays as a dense
# array of their full size (N^2 work and memory); and it would bypass `_vjp_job`'s
# reflected time, empty-`p` and save-time handling. See docs/julia-status.md.

"""
    EnsembleInputs

What the members of one ensemble share (right-hand side, its `ODEFunction`, tspan,
algorithm, solver options) and their stacked inputs: column `i` of `U0` (n × N) and of `P`
(m × N) is member `i`. `U0` and `P` may be `PyArray`s over NumPy memory: they are only
read, column by column, into each member's own vectors.
"""
struct EnsembleInputs{F, A, M1, M2}
    rhs::RHS
    f::F
    tspan::Tuple{Float64, Float64}
    alg::A
    U0::M1
    P::M2
    saveat::Vector{Float64}
    reltol::Float64
    abstol::Float64
    maxiters::Int
end

members(e::EnsembleInputs) = size(e.U0, 2)

function ensemble_inputs(key, U0, P, t0, t1, alg, saveat, reltol, abstol, maxiters)
    rhs = lookup_rhs(key)
    size(U0, 2) == size(P, 2) || throw(DiffBridgeError(
        "u0 has $(size(U0, 2)) members (columns) but p has $(size(P, 2))"))
    size(U0, 2) > 0 || throw(DiffBridgeError("an ensemble needs at least one member"))
    check_sizes(rhs, view(U0, :, 1), view(P, :, 1))
    return EnsembleInputs(rhs, ode_function(rhs), (Float64(t0), Float64(t1)), algorithm(alg),
        U0, P, Vector{Float64}(saveat), Float64(reltol), Float64(abstol), Int(maxiters))
end

member_u0(e::EnsembleInputs, i::Integer) = Vector{Float64}(view(e.U0, :, i))
member_p(e::EnsembleInputs, i::Integer) = Vector{Float64}(view(e.P, :, i))
member_problem(e::EnsembleInputs, i::Integer) =
    ODEProblem(e.f, member_u0(e, i), e.tspan, member_p(e, i))
member_job(e::EnsembleInputs, i::Integer) =
    Job(member_problem(e, i), e.alg, e.rhs, e.saveat, e.reltol, e.abstol, e.maxiters)

"""
    save_member!(U, i, states)

Columns `1:k` of member `i`'s slice `U[:, :, i]` from `states` (a vector of saved states or
an n × k matrix); the columns after a failed solve keep their NaN.
"""
function save_member!(U::Array{Float64, 3}, i::Integer, states::AbstractVector)
    for j in 1:min(length(states), size(U, 2))
        copyto!(view(U, :, j, i), states[j])
    end
    return nothing
end

function save_member!(U::Array{Float64, 3}, i::Integer, states::AbstractMatrix)
    k = min(size(states, 2), size(U, 2))
    copyto!(view(U, :, 1:k, i), view(states, :, 1:k))
    return nothing
end

"""
    each_member(f, N)

`f(i)` for every member `i`, on Julia's threads (`Threads.@threads`, as `EnsembleThreads`
does) unless there is only one thread or one member. `f` must not throw.
"""
function each_member(f, N::Integer)
    if Threads.nthreads() == 1 || N == 1
        foreach(f, 1:N)
    else
        Threads.@threads for i in 1:N
            f(i)
        end
    end
    return nothing
end

"""
    EnsembleMemberError(members, count, error)

An exception thrown while solving or differentiating some of `count` members (not a failed
solve, which is a retcode): `members` (1-based) threw, `error` is the first exception.
Python shows the exception's own type and message, prefixed with the members (0-based).
"""
struct EnsembleMemberError <: Exception
    members::Vector{Int}
    count::Int
    error::Any
end

function Base.showerror(io::IO, e::EnsembleMemberError)
    shown = join(e.members[1:min(end, 10)] .- 1, ", ") * (length(e.members) > 10 ? ", ..." : "")
    one = length(e.members) == 1
    print(io, "ensemble ", one ? "member " : "members ", shown, " (counting from 0; ",
        length(e.members), " of ", e.count, ") threw", one ? ": " : "; the first error: ")
    showerror(io, root_exception(e.error))
end

root_exception(e::EnsembleMemberError) = root_exception(e.error)
error_message(e::EnsembleMemberError) = sprint(showerror, e)

function throw_member_errors(errors::Vector{Any})
    bad = findall(!isnothing, errors)
    isempty(bad) || throw(EnsembleMemberError(bad, length(errors), errors[first(bad)]))
    return nothing
end

# prob_func marks a member started, output_func done: a member left started when the
# ensemble solve throws is one whose solve threw (each task runs its members in turn).
const STARTED = 0x01
const DONE = 0x02

"""
    ensemble_solve(key, U0, P, t0, t1, alg, saveat, reltol, abstol, maxiters)
        -> (U::Array{Float64,3}, retcodes::String, stats::Matrix{Int})

Solve every member (column `i` of `U0` and `P`) with `EnsembleThreads`. `U` is n × nt × N
(member `i`'s states at the save times in `U[:, :, i]`, NaN after a failed solve; NumPy sees
it as the (N, nt, n) C-ordered transpose without copying), `retcodes` the members'
retcodes joined by newlines (one string crosses, not N), `stats` 5 × N (`stats_tuple`
order). A failed solve is only its member's retcode; an exception thrown by a member
(e.g. by a user's right-hand side) throws `EnsembleMemberError` naming it. Safe to call
with the GIL released: `U0`/`P` are read as raw memory and nothing else touches Python.
"""
function ensemble_solve(
        key::AbstractString, U0::AbstractMatrix, P::AbstractMatrix, t0::Real, t1::Real,
        alg::AbstractString, saveat::AbstractVector, reltol::Real, abstol::Real,
        maxiters::Integer
    )
    return Base.invokelatest() do
        _ensemble_solve(ensemble_inputs(key, U0, P, t0, t1, alg, saveat, reltol, abstol, maxiters))
    end
end

function _ensemble_solve(e::EnsembleInputs)
    N, n, nt = members(e), size(e.U0, 1), length(e.saveat)
    U = fill(NaN, n, nt, N)
    retcodes = fill("Default", N)
    stats = zeros(Int, 5, N)
    state = zeros(UInt8, N)
    function prob_func(prob, ctx)
        i = ctx.sim_id
        state[i] = STARTED
        return ODEProblem(prob.f, member_u0(e, i), prob.tspan, member_p(e, i))
    end
    function output_func(sol, ctx)
        i = ctx.sim_id
        save_member!(U, i, sol.u)
        retcodes[i] = retcode_name(sol.retcode)
        stats[:, i] .= stats_tuple(sol.stats)
        state[i] = DONE
        return (i, false)
    end
    eprob = EnsembleProblem(member_problem(e, 1); prob_func, output_func, safetycopy = false)
    esol = try
        solve(eprob, e.alg, EnsembleThreads(); trajectories = N, progress_aggregate = false,
            common_kwargs(e)..., saveat = e.saveat)
    catch err
        threw = Vector{Any}(nothing, N)
        for i in findall(==(STARTED), state)
            threw[i] = err
        end
        throw_member_errors(threw)
        rethrow()
    end
    esol.u == 1:N || throw(DiffBridgeError(
        "the ensemble solve returned $(length(esol.u)) members out of order or incomplete"))
    return (U, join(retcodes, '\n'), stats)
end

"""
    EnsembleVJPHandle

What Python keeps between `ensemble_vjp` and `ensemble_pullback`: every member's
`VJPHandle` and the sizes of the gradients.
"""
struct EnsembleVJPHandle
    members::Vector{VJPHandle}
    nstates::Int
    nparams::Int
end

"""
    ensemble_vjp(key, U0, P, t0, t1, alg, saveat, reltol, abstol, maxiters, sensealg)
        -> (U, retcodes, stats, handle)

What `ensemble_solve` returns, from every member's differentiated solve (`_vjp_job`, with
its reflected time for t1 < t0 and its empty-`p` handling), run on Julia's threads, plus
an `EnsembleVJPHandle` for `ensemble_pullback`. Safe to call with the GIL released.
"""
function ensemble_vjp(
        key::AbstractString, U0::AbstractMatrix, P::AbstractMatrix, t0::Real, t1::Real,
        alg::AbstractString, saveat::AbstractVector, reltol::Real, abstol::Real,
        maxiters::Integer, sensealg::AbstractString
    )
    return Base.invokelatest() do
        e = ensemble_inputs(key, U0, P, t0, t1, alg, saveat, reltol, abstol, maxiters)
        sensitivity_algorithm(sensealg, member_job(e, 1))  # an unknown name throws once, here
        _ensemble_vjp(e, String(sensealg))
    end
end

function _ensemble_vjp(e::EnsembleInputs, sensealg::String)
    N, n, nt = members(e), size(e.U0, 1), length(e.saveat)
    U = fill(NaN, n, nt, N)
    retcodes = fill("Default", N)
    stats = zeros(Int, 5, N)
    handles = Vector{VJPHandle}(undef, N)
    threw = Vector{Any}(nothing, N)
    each_member(N) do i
        try
            Ui, _, retcode, st, _, handle = _vjp_job(member_job(e, i), sensealg)
            save_member!(U, i, Ui)
            retcodes[i] = retcode
            stats[:, i] .= st
            handles[i] = handle
        catch err
            threw[i] = err
        end
    end
    throw_member_errors(threw)
    return (U, join(retcodes, '\n'), stats, EnsembleVJPHandle(handles, n, size(e.P, 1)))
end

"""
    ensemble_pullback(handle, cot) -> (dU0::Matrix{Float64}, dP::Matrix{Float64})

Every member's pullback, on Julia's threads: `cot` is n × nt × N (Python passes its
(N, nt, n) C-ordered cotangent transposed, the same memory), member `i`'s cotangent is
`cot[:, :, i]`, copied once into a `Matrix` (the type every adjoint rule is written for).
Returns n × N and m × N gradients (NumPy sees them as (N, n) and (N, m) without copying).
Refuses (via each member's `VJPHandle`) when a member's forward solve failed.
"""
ensemble_pullback(h::EnsembleVJPHandle, cot::AbstractArray{<:Real, 3}) =
    Base.invokelatest(_ensemble_pullback, h, cot)

function _ensemble_pullback(h::EnsembleVJPHandle, cot::AbstractArray{<:Real, 3})
    N = length(h.members)
    size(cot, 3) == N || throw(DimensionMismatch(
        "cotangent has $(size(cot, 3)) members, expected $N"))
    dU0 = zeros(h.nstates, N)
    dP = zeros(h.nparams, N)
    threw = Vector{Any}(nothing, N)
    each_member(N) do i
        try
            du0, dp = _pullback_job(h.members[i], Matrix{Float64}(view(cot, :, :, i)))
            dU0[:, i] .= du0
            dP[:, i] .= dp
        catch err
            threw[i] = err
        end
    end
    throw_member_errors(threw)
    return (dU0, dP)
end
