# Plain solves: a Job holds everything a solve needs, with the inputs already copied into
# Julia vectors, so that `solve_job` can run with the GIL released.

"""
    Job

An `ODEProblem` (u0 and p as `Vector{Float64}` copies, never `PyArray`s), the algorithm,
the right-hand side it came from, and the solver options.
`saveat === nothing` saves every step; otherwise exactly at those times. `abstol` is one
number or one per state; `events` the loaded events module (`events.jl`) or `nothing`;
`tstops` the times every solve steps onto (strictly inside tspan, in the direction of
integration; empty for none).
"""
struct Job{P, A}
    prob::P
    alg::A
    rhs::RHS
    saveat::Union{Nothing, Vector{Float64}}
    reltol::Float64
    abstol::Union{Float64, Vector{Float64}}
    maxiters::Int
    events::Union{Nothing, EventSet}
    tstops::Vector{Float64}
end

Job(prob, alg, rhs::RHS, saveat, reltol, abstol, maxiters) =
    Job(prob, alg, rhs, saveat, reltol, abstol, maxiters, nothing, Float64[])

float_vector(x::AbstractVector{<:Real}) = Vector{Float64}(x)  # a copy, also of a PyArray
float_vector(::Nothing) = nothing

"""
    prepare(key, u0, t0, t1, p, alg, saveat, reltol, abstol, maxiters;
            events = nothing, tstops = nothing) -> Job

Build the problem for the right-hand side loaded under `key`. Call with the GIL held: it
reads the NumPy inputs and copies them once into Julia vectors. `abstol` is a number or a
vector (one per state); `events` the key of an events module loaded by `load_events`;
`tstops` a vector of times.
"""
function prepare(
        key::AbstractString, u0, t0::Real, t1::Real, p, alg::AbstractString, saveat,
        reltol::Real, abstol, maxiters::Integer; events = nothing, tstops = nothing
    )
    return Base.invokelatest(
        _prepare, key, float_vector(u0), Float64(t0), Float64(t1), float_vector(p), alg,
        float_vector(saveat), Float64(reltol), tolerance(abstol), Int(maxiters),
        events === nothing ? nothing : String(events),
        tstops === nothing ? Float64[] : float_vector(tstops),
    )
end

tolerance(x::Real) = Float64(x)
tolerance(x::AbstractVector{<:Real}) = Vector{Float64}(x)

function _prepare(key, u0, t0, t1, p, alg, saveat, reltol, abstol, maxiters, events, tstops)
    rhs = lookup_rhs(key)
    check_sizes(rhs, u0, p)
    abstol isa Vector && length(abstol) != length(u0) && throw(DiffBridgeError(
        "abstol has $(length(abstol)) entries, but u0 has $(length(u0)) states"))
    ev = events === nothing ? nothing : lookup_events(events)
    ev === nothing || check_sizes(ev, u0, p)
    prob = ODEProblem(ode_function(rhs), u0, (t0, t1), p)
    return Job(prob, algorithm(alg), rhs, saveat, reltol, abstol, maxiters, ev, tstops)
end

"""
    reflected_problem(job) -> ODEProblem

The job's problem in reflected time s = -t (tspan (-t0, -t1)), with the same u0 and p: its
solution at s is the original's at t = -s (`reflected_function`).
"""
function reflected_problem(job::Job)
    t0, t1 = job.prob.tspan
    return ODEProblem(reflected_function(job.rhs), job.prob.u0, (-t0, -t1), job.prob.p)
end

# Quiet: Python reports failed solves itself (retcode + SolverWarning), and this also
# silences SciMLSensitivity's notes about its automatic VJP choice.
quiet() = DEVerbosity(SciMLLogging.None())

"""The solver options every solve takes, from a `Job` or an `EnsembleInputs`."""
common_kwargs(opts) = (;
    reltol = opts.reltol, abstol = opts.abstol, maxiters = opts.maxiters, verbose = quiet(),
)

"""
    solve_kwargs(job) -> NamedTuple

The options of a plain solve of `job`: tolerances (a per-state `abstol` as given), its
`tstops` when it has any, and its `saveat` unless it saves every step.
"""
function solve_kwargs(job::Job)
    kw = isempty(job.tstops) ? common_kwargs(job) : (; common_kwargs(job)..., tstops = job.tstops)
    job.saveat === nothing && return kw
    return (; kw..., saveat = job.saveat)
end

"""
    states_matrix(sol) -> Matrix{Float64}

The saved states as one fresh n × nt matrix (Python sees it as (nt, n) without copying).
Unlike `Array(sol)`, this also works for a solve that failed before saving anything.
"""
function states_matrix(sol, n::Integer)
    U = Matrix{Float64}(undef, n, length(sol.u))
    for (j, u) in enumerate(sol.u)
        copyto!(view(U, :, j), u)
    end
    return U
end

retcode_name(retcode) = String(Symbol(retcode))

"""Solver statistics as a Tuple (PythonCall turns NamedTuples into opaque objects)."""
stats_tuple(s) = (Int(s.nf), Int(s.njacs), Int(s.nsolve), Int(s.naccept), Int(s.nreject))

"""
    solve_job(job) -> (U::Matrix{Float64}, t::Vector{Float64}, retcode::String, stats::Tuple,
                       events::Tuple)

Solve; a failed solve returns its partial trajectory and retcode instead of throwing.
`events` is `event_tuple` of what happened (empty without events). Safe to call with the
GIL released (Python's `_jl_call_nogil`): it touches no Python object.
"""
solve_job(job::Job) = Base.invokelatest(_solve_job, job)

function _solve_job(job::Job)
    if job.events === nothing
        sol, log = solve(job.prob, job.alg; solve_kwargs(job)...), EventLog()
    else
        sol, log = events_solve(job)
    end
    U, t, retcode, stats = solution_tuple(sol, job)
    job.saveat === nothing || right_continuous!(U, t, log)
    return (U, t, retcode, stats, event_tuple(log, job, solved_until(job, sol, log)))
end

function solution_tuple(sol, job::Job)
    U = states_matrix(sol, length(job.prob.u0))
    return (U, Vector{Float64}(sol.t), retcode_name(sol.retcode), stats_tuple(sol.stats))
end
