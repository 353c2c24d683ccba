# Plain solves: a Job holds everything a solve needs, with the inputs already copied into
# Julia vectors, so that `solve_job` can run with the GIL released.

"""
    Job

An `ODEProblem` (u0 and p as `Vector{Float64}` copies, never `PyArray`s), the algorithm,
the right-hand side it came from, and the solver options.
`saveat === nothing` saves every step; otherwise exactly at those times.
"""
struct Job{P, A}
    prob::P
    alg::A
    rhs::RHS
    saveat::Union{Nothing, Vector{Float64}}
    reltol::Float64
    abstol::Float64
    maxiters::Int
end

float_vector(x::AbstractVector{<:Real}) = Vector{Float64}(x)  # a copy, also of a PyArray
float_vector(::Nothing) = nothing

"""
    prepare(key, u0, t0, t1, p, alg, saveat, reltol, abstol, maxiters) -> Job

Build the problem for the right-hand side loaded under `key`. Call with the GIL held: it
reads the NumPy inputs and copies them once into Julia vectors.
"""
function prepare(
        key::AbstractString, u0, t0::Real, t1::Real, p, alg::AbstractString, saveat,
        reltol::Real, abstol::Real, maxiters::Integer
    )
    return Base.invokelatest(
        _prepare, key, float_vector(u0), Float64(t0), Float64(t1), float_vector(p), alg,
        float_vector(saveat), Float64(reltol), Float64(abstol), Int(maxiters)
    )
end

function _prepare(key, u0, t0, t1, p, alg, saveat, reltol, abstol, maxiters)
    rhs = lookup_rhs(key)
    check_sizes(rhs, u0, p)
    prob = ODEProblem(ode_function(rhs), u0, (t0, t1), p)
    return Job(prob, algorithm(alg), rhs, saveat, reltol, abstol, maxiters)
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

function solve_kwargs(job::Job)
    job.saveat === nothing && return common_kwargs(job)
    return (; common_kwargs(job)..., saveat = job.saveat)
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
    solve_job(job) -> (U::Matrix{Float64}, t::Vector{Float64}, retcode::String, stats::Tuple)

Solve; a failed solve returns its partial trajectory and retcode instead of throwing.
Safe to call with the GIL released (Python's `_jl_call_nogil`): it touches no Python object.
"""
solve_job(job::Job) = Base.invokelatest(_solve_job, job)

_solve_job(job::Job) = solution_tuple(solve(job.prob, job.alg; solve_kwargs(job)...), job)

function solution_tuple(sol, job::Job)
    U = states_matrix(sol, length(job.prob.u0))
    return (U, Vector{Float64}(sol.t), retcode_name(sol.retcode), stats_tuple(sol.stats))
end
