# Events: bridge's generated events module (`bridge._trace.events_codegen.julia_events_module`),
# loaded once per key beside the model, run as one `VectorContinuousCallback`.
#
# Read against SciMLBase 3.49.2 / DiffEqBase 7.18.1 / OrdinaryDiffEqCore 4.15.0 (never run):
# - A `VectorContinuousCallback` has no `affect_neg!`: its `affect!(integrator, fired)` gets
#   one Int8 per condition, +1 for an upcrossing, -1 for a downcrossing, 0 for none
#   (DiffEqBase `src/callbacks.jl:533-643`, `apply_callback!`), every condition whose
#   root is at the same (earliest) time being marked (`find_callback_time`, :239-362).
#   So the direction is checked here, per event, and simultaneous events are applied in
#   index order.
# - A condition exactly zero at the start of a step does not fire (`findall_events!`
#   needs a non-zero previous sign, :499-523): no event at t0, and an affect that leaves
#   the state on its surface is not re-triggered (the step after an event also nudges the
#   start, `nudge_tprev`, :414).
# - Crossings in the wrong direction are still located, and the step is cut there
#   (`apply_callback!` moves the integrator to the root first); `fire!` then applies
#   nothing and calls `derivative_discontinuity!(integrator, false)`, so the solver
#   continues without a restart or an extra save.
# - Saving in `apply_callback!`: `savevalues!` first saves the save times up to the event
#   (with every-step saving, the state at the event, before the affect), then
#   `save_positions[2]` saves the state after it. A save time equal to an event time thus
#   holds the state before the affect; `right_continuous!` puts the state after it there.
# - `terminate!` (OrdinaryDiffEqCore `integrator_interface.jl:443`) sets the retcode
#   `Terminated` and empties the tstops, which ends the solve loop; `postamble!` saves the
#   end point only if it is the last save time, tspan's end or every step is saved
#   (`solution_endpoint_match_cur_integrator!`, `integrator_utils.jl:540`).

"""
    EventSet

A loaded events module: its `conditions!(out, u, p, t)` and `affect!(unew, u, p, t, k)`
for the callback, the per-event derivative functions for the jumps of the gradients
(`jumps.jl`; `nothing` where an event has no affect), and the constants `DIRECTIONS`,
`TERMINAL`, `HAS_AFFECT`.
"""
struct EventSet
    mod::Module
    n::Int
    nstates::Int
    nparams::Int
    directions::Vector{Int}
    terminal::Vector{Bool}
    has_affect::Vector{Bool}
    conditions!::Any
    affect!::Any
    grad_u::Vector{Any}
    grad_p::Vector{Any}
    grad_t::Vector{Any}
    jac_u::Vector{Any}
    jac_p::Vector{Any}
    affect_t::Vector{Any}
end

const EVENT_SETS = Dict{String, EventSet}()
const EVENT_CONSTANTS = (:NEVENTS, :NSTATES, :NPARAMS, :DIRECTIONS, :TERMINAL, :HAS_AFFECT,
    :conditions!, :affect!)

event_function(mod, name, k) = latest_global(mod, Symbol(name, "_", k, name == "condition_grad_t" ? "" : "!"))

"""
    load_events(key, src, modname) -> Bool

Evaluate a generated events module into its own fresh module, once per `key` (as
`load_model` does for models). Returns `true` when it was loaded now.
"""
function load_events(key::AbstractString, src::AbstractString, modname::AbstractString)
    lock(CACHE_LOCK) do
        haskey(EVENT_SETS, key) && return false
        mod = include_module(key, src, modname, EVENT_CONSTANTS)
        constant(name) = latest_global(mod, name)
        n = Int(constant(:NEVENTS))
        has_affect = collect(Bool, constant(:HAS_AFFECT))
        affect_fn(name, k) = has_affect[k] ? event_function(mod, name, k) : nothing
        EVENT_SETS[String(key)] = EventSet(
            mod, n, Int(constant(:NSTATES)), Int(constant(:NPARAMS)),
            collect(Int, constant(:DIRECTIONS)), collect(Bool, constant(:TERMINAL)), has_affect,
            constant(:conditions!), constant(:affect!),
            Any[event_function(mod, "condition_grad_u", k) for k in 1:n],
            Any[event_function(mod, "condition_grad_p", k) for k in 1:n],
            Any[event_function(mod, "condition_grad_t", k) for k in 1:n],
            Any[affect_fn("affect_jac_u", k) for k in 1:n],
            Any[affect_fn("affect_jac_p", k) for k in 1:n],
            Any[affect_fn("affect_grad_t", k) for k in 1:n],
        )
        return true
    end
end

"""
    lookup_events(key) -> EventSet

The events module loaded under `key` by `load_events`.
"""
function lookup_events(key::AbstractString)
    lock(CACHE_LOCK) do
        ev = get(EVENT_SETS, key, nothing)
        ev === nothing && throw(DiffBridgeError("no events module was loaded under key $(repr(key))"))
        return ev
    end
end

function check_sizes(ev::EventSet, u0, p)
    (length(u0) == ev.nstates && length(p) == ev.nparams) || throw(DiffBridgeError(
        "the events were generated for $(ev.nstates) states and $(ev.nparams) parameters, " *
        "but u0 has length $(length(u0)) and p $(length(p))"))
    return nothing
end

"""
    EventLog

What happened in one solve, one entry per event applied, in order: its time, which event
(1-based), and the state before and after its affect (equal without one). Events at one
time are consecutive entries, in index order.
"""
struct EventLog
    t::Vector{Float64}
    which::Vector{Int}
    before::Vector{Vector{Float64}}
    after::Vector{Vector{Float64}}
end

EventLog() = EventLog(Float64[], Int[], Vector{Float64}[], Vector{Float64}[])

"""
    fire!(integrator, fired, ev, log)

The callback's affect: every event marked in `fired` (+1 up, -1 down) whose direction
matches, in index order, each affect applied to the state the previous one left; then
`terminate!` if any of them is terminal. Without a change of state it tells the solver
to go on without a restart.
"""
function fire!(integrator, fired, ev::EventSet, log::EventLog)
    t = integrator.t
    moved = false
    stop = false
    for k in 1:(ev.n)
        crossing = fired[k]
        iszero(crossing) && continue
        (ev.directions[k] == 0 || ev.directions[k] == crossing) || continue
        before = copy(integrator.u)
        if ev.has_affect[k]
            ev.affect!(integrator.u, before, integrator.p, t, k)
            moved = true
        end
        push!(log.t, Float64(t))
        push!(log.which, k)
        push!(log.before, before)
        push!(log.after, copy(integrator.u))
        stop |= ev.terminal[k]
    end
    moved || derivative_discontinuity!(integrator, false)
    stop && terminate!(integrator)
    return nothing
end

"""
    event_callback(ev, log, save) -> VectorContinuousCallback

One callback for every event of `ev`, recording into `log`; `save` saves the states just
before and after each event (`save_positions`), else nothing extra is saved.
"""
function event_callback(ev::EventSet, log::EventLog, save::Bool)
    condition(out, u, t, integrator) = ev.conditions!(out, u, integrator.p, t)
    affect!(integrator, fired) = fire!(integrator, fired, ev, log)
    return VectorContinuousCallback(condition, affect!, ev.n; save_positions = (save, save))
end

"""Whether saving every step keeps both sides of an event (docs/events.md)."""
saves_both_sides(job) = job.saveat === nothing && any(job.events.has_affect)

"""
    events_solve(job; dense = false) -> (sol, log)

A plain solve of `job` with its events. `dense = true` saves every step with both sides of
each event (the dense output of `sol(t)`), whatever the job's `saveat`.
"""
function events_solve(job; dense::Bool = false)
    log = EventLog()
    kwargs = dense ? dense_kwargs(job) : solve_kwargs(job)
    save = dense ? any(job.events.has_affect) : saves_both_sides(job)
    sol = solve(job.prob, job.alg; kwargs..., callback = event_callback(job.events, log, save))
    return sol, log
end

function dense_kwargs(job)
    kw = common_kwargs(job)
    return isempty(job.tstops) ? kw : (; kw..., tstops = job.tstops)
end

"""
    right_continuous!(U, ts, log)

Save times that are event times hold the state after the events there (SciML saves the
state before the affect at them, see the top of this file).
"""
function right_continuous!(U::AbstractMatrix, ts::AbstractVector, log::EventLog)
    isempty(log.t) && return nothing
    for (j, t) in enumerate(ts)
        i = findlast(==(t), log.t)
        i === nothing || copyto!(view(U, :, j), log.after[i])
    end
    return nothing
end

"""
    solved_until(job, sol, log) -> Float64

Where the solve stopped: a terminal event's time, tspan's end, or (failed) the last saved
time (with `saveat` that is where the dense output is known to be valid).
"""
function solved_until(job, sol, log::EventLog)
    if retcode_name(sol.retcode) == "Terminated" && !isempty(log.t)
        return last(log.t)
    elseif successful_retcode(sol)
        return Float64(job.prob.tspan[2])
    end
    return isempty(sol.t) ? Float64(job.prob.tspan[1]) : Float64(last(sol.t))
end

"""
    event_tuple(log, job, t_end, notes = "") -> (which, t, before, t_end, notes)

What Python needs of a solve's events: `which` (1-based event of each entry), their times,
the states before their affects as an n × k matrix, where the solve stopped (`t_end`, the
span of `sol(t)`), and notes for a `GradientWarning`: one line `k t` per tangential
crossing (event k at time t), empty for none.
"""
function event_tuple(log::EventLog, job, t_end::Real, notes::AbstractString = "")
    n = length(job.prob.u0)
    before = Matrix{Float64}(undef, n, length(log.t))
    for (j, u) in enumerate(log.before)
        copyto!(view(before, :, j), u)
    end
    return (copy(log.which), copy(log.t), before, Float64(t_end), String(notes))
end

"""
    Dense

A solution saved at every step with both sides of each event, for `sol(t)`, and its event
log (to return the state after the events at an event time).
"""
struct Dense{S}
    sol::S
    log::EventLog
    nstates::Int
end

"""
    dense_job(job) -> Dense

Solve `job` again, saving every step (and both sides of each event): the same steps as the
job's own solve, since saving does not change the steps, so `sol(sol.t)` is `sol.u` to
rounding. Safe to call with the GIL released.
"""
dense_job(job) = Base.invokelatest(_dense_job, job)

function _dense_job(job)
    if job.events === nothing
        sol = solve(job.prob, job.alg; dense_kwargs(job)...)
        return Dense(sol, EventLog(), length(job.prob.u0))
    end
    sol, log = events_solve(job; dense = true)
    return Dense(sol, log, length(job.prob.u0))
end

"""
    dense_eval(d, ts) -> Matrix{Float64}

The solution at the times `ts` as an n × k matrix, right-continuous at events (the state
after every event at that time).
"""
dense_eval(d::Dense, ts::AbstractVector) = Base.invokelatest(_dense_eval, d, Vector{Float64}(ts))

function _dense_eval(d::Dense, ts::Vector{Float64})
    out = Matrix{Float64}(undef, d.nstates, length(ts))
    for (j, t) in enumerate(ts)
        i = findlast(==(t), d.log.t)
        if i === nothing
            copyto!(view(out, :, j), d.sol(t; continuity = :right))
        else
            copyto!(view(out, :, j), d.log.after[i])
        end
    end
    return out
end
