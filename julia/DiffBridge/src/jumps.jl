# Gradients through events: the solve is cut at every event into segments, each
# differentiated by the chosen SciMLSensitivity method as an ordinary solve (no callback),
# and the adjoint jumps at the events (saltation, docs/events.md) are assembled here from
# the generated derivatives of the conditions and affects (`condition_grad_*_k`,
# `affect_jac_*_k`, `affect_grad_t_k`). The same formulas as bridge/_reference/jumps.py
# (`adjoint_jump`), which the conformance tests check against closed forms.
#
# Why not SciMLSensitivity's own callback handling (7.112.3, read, never run):
# - ForwardDiffSensitivity re-solves with Duals and a Dual tspan when there is a continuous
#   callback (`convert_tspan`, `concrete_solve.jl:1352-1360`), so the event time is found
#   by `find_root` on Dual brackets with ModAB (DiffEqBase `callbacks.jl:480`), which has
#   no implicit-function step: the Dual part of the event time is whatever the bracket
#   arithmetic leaves, not dτ/dθ. Its output is then matched to the primal save times by
#   `t ∈ ts` on Dual times (`concrete_solve.jl:1427-1450`), which a Dual solve taking
#   other steps (the Dual norm includes the partials, DiffEqBaseForwardDiffExt.jl:242) or
#   terminating elsewhere breaks.
# - The continuous adjoints track callbacks (`callback_tracking.jl`) and include the
#   event-time dependence (`ImplicitCorrection`, `implicit_correction!`), but they replay
#   the affect on a `FakeIntegrator` under AD (`CallbackAffectWrapper`,
#   `callback_tracking.jl:489`); our affect records events and calls `terminate!` and
#   `derivative_discontinuity!`, which a FakeIntegrator does not have, and the reverse
#   callbacks fire at the recorded times in the forward time axis while `_vjp_job` runs
#   reversed time reflected.
# So every sensealg differentiates the segments between events, and the jumps are ours.

"""
    Link

One event applied at a hit: which event, the state and f before (`ua`, `fa`) and after
(`ub`, `fb`) its affect, and the derivatives at (`ua`, τ): ∂g/∂u, ∂g/∂p, ġ = g_u f⁻ + g_t
(`Inf` for a tangential crossing: dτ/dθ = 0), ∂h/∂u, ∂h/∂p, ∂h/∂t.
"""
struct Link
    k::Int
    ua::Vector{Float64}
    fa::Vector{Float64}
    ub::Vector{Float64}
    fb::Vector{Float64}
    gu::Vector{Float64}
    gp::Vector{Float64}
    gdot::Float64
    hu::Matrix{Float64}
    hp::Matrix{Float64}
    ht::Vector{Float64}
end

"""
    apply_hit(ev, f!, events, u, p, t, notes) -> (links, u⁺)

Apply the events `events` (in order) at time `t` to the state `u`, each to the state the
previous one left, and take every derivative the jumps need. A tangential crossing adds a
line `k t` to `notes`.
"""
function apply_hit(ev::EventSet, f!, events::Vector{Int}, u::Vector{Float64}, p, t::Float64, notes)
    links = Link[]
    n, m = length(u), length(p)
    for k in events
        ua = copy(u)
        fa = zeros(n)
        f!(fa, ua, p, t)
        ub = zeros(n)
        ev.affect!(ub, ua, p, t, k)
        fb = zeros(n)
        f!(fb, ub, p, t)
        gu, gp = zeros(n), zeros(m)
        ev.grad_u[k](gu, ua, p, t)
        ev.grad_p[k](gp, ua, p, t)
        gdot = dotv(gu, fa) + Float64(ev.grad_t[k](ua, p, t))
        if iszero(gdot) || !isfinite(gdot)
            push!(notes, "$k $t")
            gdot = Inf
        end
        hu, hp, ht = zeros(n, n), zeros(n, m), zeros(n)
        if ev.has_affect[k]
            ev.jac_u[k](hu, ua, p, t)
            ev.jac_p[k](hp, ua, p, t)
            ev.affect_t[k](ht, ua, p, t)
        else
            for i in 1:n
                hu[i, i] = 1.0
            end
        end
        push!(links, Link(k, ua, fa, ub, fb, gu, gp, gdot, hu, hp, ht))
        u = ub
    end
    return links, u
end

function dotv(a::AbstractVector, b::AbstractVector)
    s = 0.0
    for i in eachindex(a, b)
        s += a[i] * b[i]
    end
    return s
end

"""A x for a small dense matrix (loops: no LinearAlgebra needed)."""
function matvec(A::AbstractMatrix, x::AbstractVector)
    y = zeros(size(A, 1))
    for j in axes(A, 2), i in axes(A, 1)
        y[i] += A[i, j] * x[j]
    end
    return y
end

"""Aᵀ x."""
tmatvec(A::AbstractMatrix, x::AbstractVector) = matvec(permutedims(A), x)

"""
    adjoint_jump!(μ, links, λ, cpre, cpost) -> λ⁻

The adjoint before a hit from the adjoint `λ` after it (`μ`, the parameter gradient, is
updated in place); `cpre`/`cpost` are the cotangents of values saved at the hit before
and after its affects. With a = λ + c⁺ and s = aᵀ(h_u f⁻ + h_t) - λᵀ f⁺ + c⁻ᵀ f⁻:
λ⁻ = h_uᵀ a + c⁻ - (s / ġ) g_u and μ += h_pᵀ a - (s / ġ) g_p, link by link backwards.
"""
function adjoint_jump!(μ::Vector{Float64}, links::Vector{Link}, λ::Vector{Float64},
        cpre::Vector{Float64}, cpost::Vector{Float64})
    last_link = length(links)
    λb = λ
    for i in last_link:-1:1
        lk = links[i]
        a = i == last_link ? λb .+ cpost : λb
        s = dotv(a, matvec(lk.hu, lk.fa) .+ lk.ht) - dotv(λb, lk.fb)
        λa = tmatvec(lk.hu, a)
        if i == 1
            s += dotv(cpre, lk.fa)
            λa .+= cpre
        end
        r = s / lk.gdot
        λb = λa .- r .* lk.gu
        μ .+= tmatvec(lk.hp, a) .- r .* lk.gp
    end
    return λb
end

# Where each saved point of the solve sits: a column of a segment (its start, end, or an
# inner save time) or one side of a hit.
const AT_START = 1
const AT_END = 2
const INNER = 3
const BEFORE_HIT = 4
const AFTER_HIT = 5

"""
    EventPlan

The segments of a solve with events: segment `s` runs from `starts[s]` to `stops[s]`; hit
`h` (events `hit_events[h]`, in order, at `hit_t[h]`) lies between segments `h` and `h+1`
(or ends the solve when it is the last and nothing follows); `inner[s]` are the saved
points strictly inside segment `s`; `place[i] = (kind, where, column)` says where saved
point `i` comes from.
"""
struct EventPlan
    starts::Vector{Float64}
    stops::Vector{Float64}
    hit_t::Vector{Float64}
    hit_events::Vector{Vector{Int}}
    inner::Vector{Vector{Int}}
    place::Vector{NTuple{3, Int}}
end

"""
    event_plan(t0, t_end, ts, log, every_step) -> EventPlan

Events at one time (consecutive entries of `log`) form one hit. Saving every step, the
first saved point at a hit time is the state before its affects and a second one after;
a save time equal to a hit time holds the state after (`right_continuous!`).
"""
function event_plan(t0::Float64, t_end::Float64, ts::Vector{Float64}, log::EventLog, every_step::Bool)
    hit_t, hit_events = Float64[], Vector{Int}[]
    for (t, k) in zip(log.t, log.which)
        if !isempty(hit_t) && last(hit_t) == t
            push!(last(hit_events), k)
        else
            push!(hit_t, t)
            push!(hit_events, [k])
        end
    end
    starts, stops = [t0; hit_t], [hit_t; t_end]
    if !isempty(hit_t) && last(hit_t) == t_end  # a terminal event (or one at t1): nothing after
        pop!(starts)
        pop!(stops)
    end
    dir = t_end >= t0 ? 1.0 : -1.0
    inner = [Int[] for _ in starts]
    place = Vector{NTuple{3, Int}}(undef, length(ts))
    seen = zeros(Int, length(hit_t))
    for (i, t) in enumerate(ts)
        h = findfirst(==(t), hit_t)
        if h !== nothing
            seen[h] += 1
            place[i] = (every_step && seen[h] == 1 ? BEFORE_HIT : AFTER_HIT, h, 0)
        elseif t == t0
            place[i] = (AT_START, 1, 0)
        elseif t == last(stops)
            place[i] = (AT_END, length(stops), 0)
        else
            s = findlast(b -> dir * b < dir * t, starts)
            (s === nothing || dir * t >= dir * stops[s]) && throw(DiffBridgeError(
                "saved time $t lies outside the solved segments [$t0, $t_end]"))
            push!(inner[s], i)
            place[i] = (INNER, s, length(inner[s]))
        end
    end
    return EventPlan(starts, stops, hit_t, hit_events, inner, place)
end

"""
    Segment

One differentiated segment: its output at [start, inner save times..., stop] (n × k) and
what `apply_back` needs.
"""
struct Segment{B}
    Y::Matrix{Float64}
    back::B
    ncols::Int
    cols::Vector{Int}
end

"""
    EventVJPHandle

What Python keeps between `vjp_job` and `pullback_job` for a solve with events: the
segments, the hits' links, the plan, and the sizes.
"""
struct EventVJPHandle
    segments::Vector{Segment}
    hits::Vector{Vector{Link}}
    plan::EventPlan
    nstates::Int
    nparams::Int
end

"""
    segment_solve(job, sensealg, x, ts, backwards) -> (Segment or nothing, retcode, stats)

Differentiate the solve from state `x` over `ts[1]` to `ts[end]`, saved at `ts`, as an
ordinary solve (reflected time when `backwards`). `nothing` when it failed.
"""
function segment_solve(job::Job, sensealg, x::Vector{Float64}, ts::Vector{Float64}, backwards::Bool)
    a, b = first(ts), last(ts)
    prob = backwards ?
        ODEProblem(reflected_function(job.rhs), x, (-a, -b), job.prob.p) :
        ODEProblem(job.prob.f, x, (a, b), job.prob.p)
    Y, back, tsolved, retcode, stats = differentiated_solve(
        job, prob, sensealg, backwards ? -ts : ts, backwards)
    successful_retcode(retcode) || return nothing, retcode_name(retcode), stats
    tsol = backwards ? -tsolved : tsolved
    cols = user_columns(tsol, ts)
    length(cols) == length(ts) || throw(DiffBridgeError(
        "a differentiated segment returned $(length(tsol)) times, not the $(length(ts)) asked for"))
    return Segment(Matrix{Float64}(Y[:, cols]), back, length(tsol), cols), retcode_name(retcode), stats
end

"""
    _vjp_events_job(job, sensealg) -> (U, t, retcode, stats, events, handle)

A plain solve with the events finds where they happen (and what is saved); the solve is
then differentiated segment by segment, the state carried across each hit by its affects
(`apply_hit`). The returned states come from the differentiated segments, the events from
the plain solve.
"""
function _vjp_events_job(job::Job, sensealg_name::String)
    sensealg = sensitivity_algorithm(sensealg_name, job)
    n, np = length(job.prob.u0), length(job.prob.p)
    sol, log = events_solve(job)
    successful_retcode(sol) ||
        return failed_vjp(sol, job, retcode_name(sol.retcode), stats_tuple(sol.stats), log)
    ts = Vector{Float64}(sol.t)
    t0, t_end = Float64(job.prob.tspan[1]), solved_until(job, sol, log)
    plan = event_plan(t0, t_end, ts, log, job.saveat === nothing)
    backwards = job.prob.tspan[2] < job.prob.tspan[1]
    f!, p = rhs_function(job.rhs), job.prob.p
    x = copy(job.prob.u0)
    segments, hits, notes = Segment[], Vector{Link}[], String[]
    stats = zeros(Int, 5)
    for s in eachindex(plan.starts)
        seg_ts = [plan.starts[s]; ts[plan.inner[s]]; plan.stops[s]]
        seg, retcode, st = segment_solve(job, sensealg, x, seg_ts, backwards)
        stats .+= st
        seg === nothing && return failed_vjp(sol, job, retcode, Tuple(stats), log)
        push!(segments, seg)
        if s <= length(plan.hit_t)
            links, x = apply_hit(job.events, f!, plan.hit_events[s], seg.Y[:, end], p,
                plan.hit_t[s], notes)
            push!(hits, links)
        end
    end
    U = Matrix{Float64}(undef, n, length(ts))
    for (i, (kind, at, col)) in enumerate(plan.place)
        value = kind == AT_START ? view(segments[at].Y, :, 1) :
            kind == AT_END ? view(segments[at].Y, :, size(segments[at].Y, 2)) :
            kind == INNER ? view(segments[at].Y, :, 1 + col) :
            kind == BEFORE_HIT ? first(hits[at]).ua : last(hits[at]).ub
        copyto!(view(U, :, i), value)
    end
    handle = EventVJPHandle(segments, hits, plan, n, np)
    events = event_tuple(log, job, t_end, join(notes, '\n'))
    return (U, ts, retcode_name(sol.retcode), Tuple(stats), events, handle)
end

pullback_job(h::EventVJPHandle, cot::AbstractMatrix) = Base.invokelatest(_pullback_job, h, cot)

"""
    _pullback_job(h::EventVJPHandle, cot) -> (du0, dp)

Backwards through the segments: each segment's pullback gets the cotangents of its saved
points and, at its end, the adjoint before the hit that follows (`adjoint_jump!`); its
initial-state gradient is the adjoint after the hit before it.
"""
function _pullback_job(h::EventVJPHandle, cot::AbstractMatrix)
    n, np, plan = h.nstates, h.nparams, h.plan
    size(cot) == (n, length(plan.place)) || throw(DimensionMismatch(
        "cotangent has size $(size(cot)), expected $((n, length(plan.place)))"))
    nseg, nhit = length(h.segments), length(h.hits)
    ybars = [zeros(n, size(seg.Y, 2)) for seg in h.segments]
    cpre, cpost = [zeros(n) for _ in 1:nhit], [zeros(n) for _ in 1:nhit]
    for (i, (kind, at, col)) in enumerate(plan.place)
        c = view(cot, :, i)
        if kind == AT_START
            view(ybars[at], :, 1) .+= c
        elseif kind == AT_END
            view(ybars[at], :, size(ybars[at], 2)) .+= c
        elseif kind == INNER
            view(ybars[at], :, 1 + col) .+= c
        elseif kind == BEFORE_HIT
            cpre[at] .+= c
        else
            cpost[at] .+= c
        end
    end
    μ = zeros(np)
    λ = zeros(n)  # the adjoint after the last segment's end
    nhit == nseg && (λ = adjoint_jump!(μ, h.hits[nhit], λ, cpre[nhit], cpost[nhit]))
    du0 = λ
    for s in nseg:-1:1
        seg = h.segments[s]
        view(ybars[s], :, size(ybars[s], 2)) .+= λ
        x̄, p̄ = apply_back(seg.back, ybars[s], n, np, seg.ncols, seg.cols)
        μ .+= p̄
        if s > 1
            λ = adjoint_jump!(μ, h.hits[s - 1], x̄, cpre[s - 1], cpost[s - 1])
        else
            du0 = x̄
        end
    end
    return (du0, μ)
end
