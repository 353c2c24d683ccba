# The Julia side alone: `julia --project=julia/DiffBridge -e 'using Pkg; Pkg.test()'`.
# The same calls Python makes, with Julia vectors in place of NumPy arrays.

using DiffBridge: DiffBridge
using Test: @test, @test_throws, @testset

# A model in the shape bridge's tracer generates: du1 = -a u1 + b u2, du2 = -c u2.
const MODEL_SRC = """
module TestModel
const NSTATES = 2
const NPARAMS = 3
function f!(du, u, p, t)
    du[1] = -p[1] * u[1] + p[2] * u[2]
    du[2] = -p[3] * u[2]
    return nothing
end
function jac!(J, u, p, t)
    J[1, 1] = -p[1]; J[1, 2] = p[2]
    J[2, 1] = zero(eltype(J)); J[2, 2] = -p[3]
    return nothing
end
function paramjac!(pJ, u, p, t)
    pJ[1, 1] = -u[1]; pJ[1, 2] = u[2]; pJ[1, 3] = zero(eltype(pJ))
    pJ[2, 1] = zero(eltype(pJ)); pJ[2, 2] = zero(eltype(pJ)); pJ[2, 3] = -u[2]
    return nothing
end
function vjp!(out, v, u, p, t)
    out[1] = -p[1] * v[1]
    out[2] = p[2] * v[1] - p[3] * v[2]
    return nothing
end
function vjp_p!(out, v, u, p, t)
    out[1] = -u[1] * v[1]
    out[2] = u[2] * v[1]
    out[3] = -u[2] * v[2]
    return nothing
end
end
"""


# A falling ball (p = g, e, T), and the events bridge generates for it: `ground` (u1 = 0
# going down, bounce u2 -> -e u2), `apex` (u2 = 0 going down, recorded), `deadline` (t = T,
# terminal). BALL_EVENTS_SRC is the generator's golden output for it (a source checkout:
# tests/golden/events_bouncing_ball.jl, golden-tested in tests/test_events_codegen.py).
const BALL_SRC = """
module BallModel
const NSTATES = 2
const NPARAMS = 3
function f!(du, u, p, t)
    du[1] = u[2]
    du[2] = -p[1]
    return nothing
end
function jac!(J, u, p, t)
    fill!(J, zero(eltype(J)))
    J[1, 2] = 1
    return nothing
end
function paramjac!(pJ, u, p, t)
    fill!(pJ, zero(eltype(pJ)))
    pJ[2, 1] = -1
    return nothing
end
function vjp!(out, v, u, p, t)
    out[1] = zero(eltype(out))
    out[2] = v[1]
    return nothing
end
function vjp_p!(out, v, u, p, t)
    out[1] = -v[2]
    out[2] = zero(eltype(out))
    out[3] = zero(eltype(out))
    return nothing
end
end
"""

const BALL_EVENTS_SRC = read(joinpath(@__DIR__, "..", "..", "..", "tests", "golden",
    "events_bouncing_ball.jl"), String)

const BALL_G, BALL_E, BALL_H = 9.81, 0.9, 1.0

"""The first k impact times of the ball dropped from h0 at rest (restitution e)."""
function bounce_times(h0, g, e, k)
    v0 = sqrt(2 * g * h0)
    times = [v0 / g]
    for i in 1:(k - 1)
        push!(times, times[end] + 2 * e^i * v0 / g)
    end
    return times
end

"""The closed-form height at time s, given the impact times (v0: the first impact speed)."""
function ball_height(s, times, v0)
    k = count(<(s), times)
    k == 0 && return BALL_H - BALL_G * s^2 / 2
    r = s - times[k]
    return BALL_E^k * v0 * r - BALL_G * r^2 / 2
end

function ball_job(u0, p; t1 = 3.0, saveat = nothing, tstops = nothing)
    return DiffBridge.prepare("ball", u0, 0.0, t1, p, "Tsit5", saveat, 1e-10, 1e-12, 100_000;
        events = "ball-events", tstops = tstops)
end

const U0 = [1.0, 2.0]
const P = [0.7, 0.3, 1.1]
const TS = collect(range(0.0, 2.0; length = 11))
const W = reshape(collect(1.0:22.0), 2, 11) ./ 10  # loss = sum(W .* U)

# A cotangent that changes under reversing time (an all-ones one would not see a cotangent
# column paired with the mirrored save time).
const W_IRREGULAR = sin.(1.7 .* reshape(collect(1.0:22.0), 2, 11))
const SENSEALG_NAMES = sort!(collect(keys(DiffBridge.SENSEALGS)))

function prepared(u0, p; alg = "Tsit5", saveat = TS, key = "testmodel")
    return DiffBridge.prepare(key, u0, 0.0, 2.0, p, alg, saveat, 1e-10, 1e-12, 100_000)
end

backwards(u0, p) = DiffBridge.prepare("testmodel", u0, 2.0, 0.0, p, "Tsit5", reverse(TS),
    1e-10, 1e-12, 100_000)

unit(n, i, h) = [j == i ? h : 0.0 for j in 1:n]

"""Central differences of sum(w .* U) for the job `make(u0, p)` builds."""
function finite_difference(u0, p; make = prepared, w = W, h = 1e-6)
    g(u0, p) = sum(w .* DiffBridge.solve_job(make(u0, p))[1])
    du0 = [(g(u0 + unit(2, i, h), p) - g(u0 - unit(2, i, h), p)) / 2h for i in 1:2]
    dp = [(g(u0, p + unit(3, i, h)) - g(u0, p - unit(3, i, h))) / 2h for i in 1:3]
    return du0, dp
end

"""Compare a loaded model's Jacobians with central differences of f!, and its VJPs with
the transposed Jacobians, at a point away from zero."""
function check_generated_derivatives(rhs)
    fn(name) = DiffBridge.latest_global(rhs.mod, name)
    check_derivatives(map(fn, DiffBridge.GENERATED_FUNCTIONS), rhs.nstates, rhs.nparams)
    # and the same functions in reflected time
    fun = DiffBridge.reflected_function(rhs)
    check_derivatives((fun.f, fun.jac, fun.paramjac, fun.vjp, fun.vjp_p), rhs.nstates, rhs.nparams)
    return nothing
end

function check_derivatives((f!, jac!, paramjac!, vjp!, vjp_p!), n, np)
    u = [0.3 + 0.1 * i for i in 1:n]
    p = [0.5 + 0.05 * i for i in 1:np]
    t, h = 0.2, 1e-6
    function F(u, p)
        du = zeros(n)
        Base.invokelatest(f!, du, u, p, t)
        return du
    end
    J = zeros(n, n)
    pJ = zeros(n, np)
    Base.invokelatest(jac!, J, u, p, t)
    Base.invokelatest(paramjac!, pJ, u, p, t)
    for i in 1:n
        @test J[:, i] ≈ (F(u + unit(n, i, h), p) - F(u - unit(n, i, h), p)) / 2h rtol = 1e-5 atol = 1e-6
    end
    for i in 1:np
        @test pJ[:, i] ≈ (F(u, p + unit(np, i, h)) - F(u, p - unit(np, i, h))) / 2h rtol = 1e-5 atol = 1e-6
    end
    v = [1.0 - 0.1 * i for i in 1:n]
    out_u, out_p = zeros(n), zeros(np)
    Base.invokelatest(vjp!, out_u, v, u, p, t)
    Base.invokelatest(vjp_p!, out_p, v, u, p, t)
    @test out_u ≈ J' * v
    @test out_p ≈ pJ' * v
    return nothing
end

@testset "DiffBridge" begin
    @test DiffBridge.load_model("testmodel", MODEL_SRC, "TestModel") === true
    @test DiffBridge.load_model("testmodel", MODEL_SRC, "TestModel") === false  # cached
    check_generated_derivatives(DiffBridge.lookup_rhs("testmodel"))

    @testset "solve" begin
        U, t, retcode, stats = DiffBridge.solve_job(prepared(U0, P))
        @test retcode == "Success"
        @test U isa Matrix{Float64} && size(U) == (2, 11)
        @test t == TS
        c = P[3]
        @test U[2, end] ≈ U0[2] * exp(-c * 2.0) rtol = 1e-8
        @test length(stats) == 5 && stats[1] > 0
        for alg in keys(DiffBridge.ALGORITHMS)
            @test DiffBridge.solve_job(prepared(U0, P; alg))[3] == "Success"
        end
        U2, t2, _, _ = DiffBridge.solve_job(prepared(U0, P; saveat = nothing))
        @test first(t2) == 0.0 && last(t2) == 2.0 && size(U2, 2) == length(t2)
    end

    @testset "failed solve returns its retcode" begin
        job = DiffBridge.prepare("testmodel", U0, 0.0, 2.0, P, "Tsit5", TS, 1e-10, 1e-12, 3)
        U, t, retcode, _ = DiffBridge.solve_job(job)
        @test retcode == "MaxIters"
        @test size(U, 2) == length(t) < length(TS)
        _, tv, rc, _, handle = DiffBridge.vjp_job(job, "GaussAdjoint")
        @test rc == "MaxIters"
        @test_throws DiffBridge.DiffBridgeError DiffBridge.pullback_job(handle, zeros(2, length(tv)))
    end

    @testset "gradients: $sensealg" for sensealg in SENSEALG_NAMES
        fd_u0, fd_p = finite_difference(U0, P)
        U, t, retcode, _, handle = DiffBridge.vjp_job(prepared(U0, P), sensealg)
        @test retcode == "Success" && size(U) == (2, 11) && t == TS
        du0, dp = DiffBridge.pullback_job(handle, W)
        @test du0 ≈ fd_u0 rtol = 1e-4
        @test dp ≈ fd_p rtol = 1e-4
    end

    @testset "time running backwards: $sensealg" for sensealg in SENSEALG_NAMES
        fd_u0, fd_p = finite_difference(U0, P; make = backwards, w = W_IRREGULAR)
        U, t, retcode, _, handle = DiffBridge.vjp_job(backwards(U0, P), sensealg)
        @test retcode == "Success" && t == reverse(TS)
        @test U ≈ DiffBridge.solve_job(backwards(U0, P))[1] rtol = 1e-8
        du0, dp = DiffBridge.pullback_job(handle, W_IRREGULAR)
        @test du0 ≈ fd_u0 rtol = 1e-4
        @test dp ≈ fd_p rtol = 1e-4
    end

    @testset "time running backwards, every step: $sensealg" for sensealg in SENSEALG_NAMES
        job = DiffBridge.prepare("testmodel", U0, 2.0, 0.0, P, "Tsit5", nothing, 1e-10, 1e-12,
            100_000)
        U, t, retcode, _, handle = DiffBridge.vjp_job(job, sensealg)
        @test retcode == "Success" && first(t) == 2.0 && last(t) == 0.0 && issorted(t; rev = true)
        w = sin.(1.7 .* reshape(collect(1.0:length(U)), size(U)))
        every(u0, p) = DiffBridge.prepare("testmodel", u0, 2.0, 0.0, p, "Tsit5", t, 1e-10,
            1e-12, 100_000)
        fd_u0, fd_p = finite_difference(U0, P; make = every, w = w)
        du0, dp = DiffBridge.pullback_job(handle, w)
        @test du0 ≈ fd_u0 rtol = 1e-4
        @test dp ≈ fd_p rtol = 1e-4
    end

    @testset "save times without tspan's ends" begin
        inner = TS[2:(end - 1)]
        U, t, _, _, handle = DiffBridge.vjp_job(prepared(U0, P; saveat = inner), "GaussAdjoint")
        @test t == inner && size(U) == (2, 9)
        du0, _ = DiffBridge.pullback_job(handle, ones(2, 9))
        _, _, _, _, h_all = DiffBridge.vjp_job(prepared(U0, P), "GaussAdjoint")
        cot = zeros(2, 11)
        cot[:, 2:10] .= 1.0
        @test du0 ≈ DiffBridge.pullback_job(h_all, cot)[1] rtol = 1e-6
    end

    @testset "user Julia function" begin
        src = "(du, u, p, t) -> (du[1] = -p[1] * u[1]; nothing)"
        DiffBridge.register_function("jl:decay", src)
        job = DiffBridge.prepare("jl:decay", [2.0], 0.0, 1.0, [0.5], "Rodas5P", [0.0, 1.0],
            1e-10, 1e-12, 100_000)
        U, _, retcode, _ = DiffBridge.solve_job(job)
        @test retcode == "Success"
        @test U[1, end] ≈ 2.0 * exp(-0.5) rtol = 1e-7
        _, _, _, _, handle = DiffBridge.vjp_job(job, "InterpolatingAdjoint")
        du0, dp = DiffBridge.pullback_job(handle, [0.0 1.0])
        @test du0[1] ≈ exp(-0.5) rtol = 1e-6
        @test dp[1] ≈ -2.0 * exp(-0.5) rtol = 1e-6
        # backwards: u(0) = u(1) e^{p}, from u0 = 2 at t = 1
        back = DiffBridge.prepare("jl:decay", [2.0], 1.0, 0.0, [0.5], "Tsit5", [0.5, 0.0],
            1e-10, 1e-12, 100_000)
        for sensealg in SENSEALG_NAMES
            _, _, _, _, hb = DiffBridge.vjp_job(back, sensealg)
            du0, dp = DiffBridge.pullback_job(hb, [0.3 -0.8])
            @test du0[1] ≈ 0.3 * exp(0.25) - 0.8 * exp(0.5) rtol = 1e-6
            @test dp[1] ≈ 2.0 * (0.3 * 0.5 * exp(0.25) - 0.8 * exp(0.5)) rtol = 1e-6
        end
    end

    # GaussAdjoint goes to InterpolatingAdjoint here (`length(::NullParameters)` otherwise).
    @testset "no parameters: $sensealg" for sensealg in SENSEALG_NAMES
        # u' = -u, u(1) = u0 e^-1: d u(1)/d u0 = e^-1, and an empty parameter gradient.
        DiffBridge.register_function("jl:noparams", "(du, u, p, t) -> (du[1] = -u[1]; nothing)")
        job = DiffBridge.prepare("jl:noparams", [2.0], 0.0, 1.0, Float64[], "Tsit5", [0.0, 1.0],
            1e-10, 1e-12, 100_000)
        _, _, retcode, _, handle = DiffBridge.vjp_job(job, sensealg)
        @test retcode == "Success"
        du0, dp = DiffBridge.pullback_job(handle, [0.0 1.0])
        @test du0[1] ≈ exp(-1.0) rtol = 1e-6
        @test isempty(dp)
    end

    # Ensembles: member i is column i of U0 (2 × N) and P (3 × N), as Python hands over.
    ENS_N = 5
    ENS_U0 = [1.0 + 0.1 * i + 0.05 * j for j in 1:2, i in 1:ENS_N]
    ENS_P = [P[k] * (1.0 + 0.04 * i) for k in 1:3, i in 1:ENS_N]
    ens_args(U0s, Ps; t0 = 0.0, t1 = 2.0, ts = TS) =
        ("testmodel", U0s, Ps, t0, t1, "Tsit5", ts, 1e-10, 1e-12, 100_000)
    ens_cot = sin.(1.3 .* reshape(collect(1.0:(2 * 11 * ENS_N)), 2, 11, ENS_N))

    @testset "ensemble solve" begin
        U, retcodes, stats = DiffBridge.ensemble_solve(ens_args(ENS_U0, ENS_P)...)
        @test U isa Array{Float64, 3} && size(U) == (2, 11, ENS_N) && size(stats) == (5, ENS_N)
        @test split(retcodes, '\n') == fill("Success", ENS_N)
        for i in 1:ENS_N
            Ui, _, _, _ = DiffBridge.solve_job(prepared(ENS_U0[:, i], ENS_P[:, i]))
            @test U[:, :, i] ≈ Ui rtol = 1e-12
            @test stats[1, i] > 0 && stats[4, i] > 0
        end
        # any AbstractMatrix of columns (Python's are PyArrays), e.g. a transposed view
        Ut, _, _ = DiffBridge.ensemble_solve(ens_args(permutedims(ENS_U0)', ENS_P)...)
        @test Ut ≈ U rtol = 1e-14
        @test_throws DiffBridge.DiffBridgeError DiffBridge.ensemble_solve(
            ens_args(ENS_U0, ENS_P[:, 1:2])...)
        @test_throws DiffBridge.DiffBridgeError DiffBridge.ensemble_solve(
            ens_args(ENS_U0[1:1, :], ENS_P)...)
    end

    @testset "ensemble gradients: $sensealg" for sensealg in SENSEALG_NAMES
        U, retcodes, _, handle = DiffBridge.ensemble_vjp(ens_args(ENS_U0, ENS_P)..., sensealg)
        @test split(retcodes, '\n') == fill("Success", ENS_N)
        @test U ≈ DiffBridge.ensemble_solve(ens_args(ENS_U0, ENS_P)...)[1] rtol = 1e-8
        dU0, dP = DiffBridge.ensemble_pullback(handle, ens_cot)
        @test size(dU0) == (2, ENS_N) && size(dP) == (3, ENS_N)
        for i in 1:ENS_N
            _, _, _, _, h = DiffBridge.vjp_job(prepared(ENS_U0[:, i], ENS_P[:, i]), sensealg)
            du0, dp = DiffBridge.pullback_job(h, ens_cot[:, :, i])
            @test dU0[:, i] ≈ du0 rtol = 1e-8
            @test dP[:, i] ≈ dp rtol = 1e-8
        end
        fd_u0, fd_p = finite_difference(ENS_U0[:, 2], ENS_P[:, 2]; w = ens_cot[:, :, 2])
        @test dU0[:, 2] ≈ fd_u0 rtol = 1e-4
        @test dP[:, 2] ≈ fd_p rtol = 1e-4
        @test_throws DimensionMismatch DiffBridge.ensemble_pullback(handle, ens_cot[:, :, 1:2])
    end

    @testset "ensemble, time running backwards: $sensealg" for sensealg in SENSEALG_NAMES
        args = ens_args(ENS_U0, ENS_P; t0 = 2.0, t1 = 0.0, ts = reverse(TS))
        U, _, _ = DiffBridge.ensemble_solve(args...)
        Uv, _, _, handle = DiffBridge.ensemble_vjp(args..., sensealg)
        dU0, dP = DiffBridge.ensemble_pullback(handle, ens_cot)
        for i in (1, ENS_N)
            @test U[:, :, i] ≈ DiffBridge.solve_job(backwards(ENS_U0[:, i], ENS_P[:, i]))[1] rtol = 1e-12
            @test Uv[:, :, i] ≈ U[:, :, i] rtol = 1e-8
            fd_u0, fd_p = finite_difference(ENS_U0[:, i], ENS_P[:, i]; make = backwards,
                w = ens_cot[:, :, i])
            @test dU0[:, i] ≈ fd_u0 rtol = 1e-4
            @test dP[:, i] ≈ fd_p rtol = 1e-4
        end
    end

    @testset "ensemble: a failed member keeps its retcode, the others succeed" begin
        # u' = p u^2, u(0) = 1 blows up at t = 1/p: only the member with p = 1 fails.
        DiffBridge.register_function("jl:blowup", "(du, u, p, t) -> (du[1] = p[1] * u[1]^2; nothing)")
        args = ("jl:blowup", ones(1, 3), [0.1 1.0 0.2], 0.0, 2.0, "Tsit5", [0.0, 1.5, 2.0],
            1e-8, 1e-10, 100_000)
        U, retcodes, _ = DiffBridge.ensemble_solve(args...)
        rc = split(retcodes, '\n')
        @test rc[1] == "Success" && rc[3] == "Success" && rc[2] != "Success"
        @test U[1, 1, 2] == 1.0 && isnan(U[1, 3, 2]) && all(isfinite, U[:, :, [1, 3]])
        @test U[1, 3, 1] ≈ 1 / (1 - 0.1 * 2.0) rtol = 1e-6
        Uv, rcv, _, handle = DiffBridge.ensemble_vjp(args..., "GaussAdjoint")
        @test split(rcv, '\n')[[1, 3]] == ["Success", "Success"] && split(rcv, '\n')[2] != "Success"
        @test isnan(Uv[1, 3, 2]) && Uv[1, 1, 2] == 1.0  # the partial trajectory, not extrapolated
        err = try
            DiffBridge.ensemble_pullback(handle, ones(1, 3, 3))
        catch e
            e
        end
        @test err isa DiffBridge.EnsembleMemberError && err.members == [2]
        @test DiffBridge.error_type_name(err) == "DiffBridgeError"
    end

    @testset "ensemble: a member that throws is named" begin
        src = """(du, u, p, t) -> (p[1] < 0 && throw(DomainError(p[1], "negative rate"));
            du[1] = -p[1] * u[1]; nothing)"""
        DiffBridge.register_function("jl:picky", src)
        args = ("jl:picky", ones(1, 3), [1.0 -1.0 2.0], 0.0, 1.0, "Tsit5", [0.0, 1.0],
            1e-8, 1e-10, 100_000)
        for run in (() -> DiffBridge.ensemble_solve(args...),
                () -> DiffBridge.ensemble_vjp(args..., "InterpolatingAdjoint"))
            err = try
                run()
            catch e
                e
            end
            @test err isa DiffBridge.EnsembleMemberError && err.members == [2]
            @test DiffBridge.error_type_name(err) == "DomainError"
            msg = DiffBridge.error_message(err)
            @test occursin("ensemble member 1 (counting from 0; 1 of 3) threw: DomainError", msg)
            @test occursin("negative rate", msg)
        end
    end

    @testset "ensemble without parameters: $sensealg" for sensealg in SENSEALG_NAMES
        DiffBridge.register_function("jl:noparams", "(du, u, p, t) -> (du[1] = -u[1]; nothing)")
        args = ("jl:noparams", [2.0 3.0], zeros(0, 2), 0.0, 1.0, "Tsit5", [0.0, 1.0],
            1e-10, 1e-12, 100_000)
        U, _, _ = DiffBridge.ensemble_solve(args...)
        @test U[1, 2, :] ≈ [2.0, 3.0] .* exp(-1.0) rtol = 1e-8
        _, _, _, handle = DiffBridge.ensemble_vjp(args..., sensealg)
        dU0, dP = DiffBridge.ensemble_pullback(handle, reshape([0.0, 1.0, 0.0, 2.0], 1, 2, 2))
        @test vec(dU0) ≈ [1.0, 2.0] .* exp(-1.0) rtol = 1e-6
        @test size(dP) == (0, 2)
    end


    @testset "events" begin
        @test DiffBridge.load_model("ball", BALL_SRC, "BallModel") === true
        @test DiffBridge.load_events("ball-events", BALL_EVENTS_SRC, "BouncingBallEvents") === true
        @test DiffBridge.load_events("ball-events", BALL_EVENTS_SRC, "BouncingBallEvents") === false
        u0, p = [BALL_H, 0.0], [BALL_G, BALL_E, 2.55]  # the deadline is no save time
        times = bounce_times(BALL_H, BALL_G, BALL_E, 4)
        v0 = sqrt(2 * BALL_G * BALL_H)

        # against the closed form: impacts, apexes, the terminal deadline at t = p[3]
        ts = collect(range(0.0, 3.0; length = 31))
        U, t, retcode, _, (which, te, before, t_end, _) = DiffBridge.solve_job(ball_job(u0, p; saveat = ts))
        @test retcode == "Terminated"
        @test t_end == te[end] && which[end] == 3
        @test te[end] ≈ 2.55 rtol = 1e-12
        @test te[which .== 1] ≈ times[times .< 2.55] rtol = 1e-8
        apexes = [times[k] + BALL_E^k * v0 / BALL_G for k in 1:3]
        @test te[which .== 2] ≈ apexes[apexes .< 2.55] rtol = 1e-8
        @test t == ts[ts .<= 2.55]  # the save times before the terminal event, no more
        @test all(abs.(before[1, which .== 1]) .< 1e-8)
        @test before[2, which .== 1] ≈ -v0 .* BALL_E .^ (0:2) rtol = 1e-6
        @test U[1, :] ≈ ball_height.(t, Ref(times), v0) atol = 1e-8

        # every step: both sides of each bounce, the same time twice
        U2, t2, _, _, (which2, te2, _, _, _) = DiffBridge.solve_job(ball_job(u0, p))
        for tau in te2[which2 .== 1]
            i = findfirst(==(tau), t2)
            @test t2[i + 1] == tau
            @test U2[2, i + 1] ≈ -BALL_E * U2[2, i] rtol = 1e-12
        end
        @test t2[end] == te2[end]
        @test all(diff(t2) .>= 0)

        # dense output: the same steps as the saved solve, right-continuous at a bounce
        dense = DiffBridge.dense_job(ball_job(u0, p; saveat = ts))
        @test DiffBridge.dense_eval(dense, t) ≈ U atol = 1e-12
        sides = DiffBridge.dense_eval(dense, [te[1], prevfloat(te[1])])
        @test sides[2, 1] > 0 > sides[2, 2]

        # a terminal event on a tstop that is a save time: saved once, at it
        Ut, tt, rct, _, _ = DiffBridge.solve_job(ball_job(u0, [BALL_G, BALL_E, 1.0];
            saveat = [0.5, 1.0], tstops = [1.0]))
        @test rct == "Terminated" && tt == [0.5, 1.0]
        @test Ut[1, 2] ≈ ball_height(1.0, times, v0) atol = 1e-8

        # gradients through the bounces, every sensealg, against central differences
        cot = [0.3 1.0; -0.2 0.5]  # columns: t = 1.0 and 2.1 (after two bounces)
        pg = [BALL_G, BALL_E, 2.8]
        loss(u0, p) = sum(cot .* DiffBridge.solve_job(ball_job(u0, p; saveat = [1.0, 2.1]))[1])
        h = 1e-6
        fd_u0 = [(loss(u0 + unit(2, i, h), pg) - loss(u0 - unit(2, i, h), pg)) / 2h for i in 1:2]
        fd_p = [(loss(u0, pg + unit(3, i, h)) - loss(u0, pg - unit(3, i, h))) / 2h for i in 1:3]
        for sensealg in SENSEALG_NAMES
            Uv, tv, rc, _, _, handle = DiffBridge.vjp_job(ball_job(u0, pg; saveat = [1.0, 2.1]), sensealg)
            @test rc == "Terminated" && tv == [1.0, 2.1]
            @test Uv ≈ DiffBridge.solve_job(ball_job(u0, pg; saveat = [1.0, 2.1]))[1] atol = 1e-8
            du0, dp = DiffBridge.pullback_job(handle, cot)
            @test du0 ≈ fd_u0 rtol = 1e-5
            @test dp ≈ fd_p rtol = 1e-5 atol = 1e-7
        end

        # the state at a terminal event that moves with p: the deadline T = 0.3 comes before
        # the impact, u(T) = (h0 + v0 T - g T^2 / 2, v0 - g T), and the last saved point (every
        # step) is the state at T
        early = [BALL_G, BALL_E, 0.3]
        for sensealg in SENSEALG_NAMES
            Uv, tv, rc, _, _, handle = DiffBridge.vjp_job(ball_job(u0, early), sensealg)
            @test rc == "Terminated"
            @test tv[end] ≈ 0.3 rtol = 1e-14
            c = zeros(size(Uv))
            c[1, end] = 1.0
            du0, dp = DiffBridge.pullback_job(handle, c)
            @test du0 ≈ [1.0, 0.3] rtol = 1e-7
            @test dp ≈ [-0.3^2 / 2, 0.0, -BALL_G * 0.3] rtol = 1e-7 atol = 1e-10
        end
    end

    @testset "Zygote on Julia code" begin
        g = DiffBridge.zygote_gradient_source("sq", "x -> sum(abs2, x)", [1.0, 2.0, 3.0])
        @test g == ([2.0, 4.0, 6.0],)
        g2 = DiffBridge.zygote_gradient((x, y) -> sum(x) * 2.0, [1.0, 2.0], 3.0)
        @test g2 == ([2.0, 2.0], 0.0)  # no dependence on y: zeros, not nothing
        y, h = DiffBridge.zygote_pullback(x -> 3 .* x, [1.0, 2.0])
        @test y == [3.0, 6.0]
        @test DiffBridge.zygote_back(h, [1.0, 1.0]) == ([3.0, 3.0],)
        _, hc = DiffBridge.zygote_pullback(x -> [1.0, 2.0], [1.0])  # no dependence on x
        @test DiffBridge.zygote_back(hc, [1.0, 1.0]) == ([0.0],)
    end

    # The tracer's golden files (present in a source checkout, not in an installed wheel):
    # each loads, and its jac!/paramjac!/vjp!/vjp_p! agree with f! and with each other.
    golden_dir = joinpath(@__DIR__, "..", "..", "..", "tests", "golden")
    golden = isdir(golden_dir) ? filter(endswith(".jl"), readdir(golden_dir)) : String[]
    @testset "golden model $(name)" for name in golden
        src = read(joinpath(golden_dir, name), String)
        modname = match(r"^module (\w+)"m, src).captures[1]
        key = "golden:" * name
        DiffBridge.load_model(key, src, modname)
        check_generated_derivatives(DiffBridge.lookup_rhs(key))
    end

    @testset "errors" begin
        @test_throws DiffBridge.DiffBridgeError DiffBridge.algorithm("Tsit6")
        @test_throws DiffBridge.DiffBridgeError DiffBridge.vjp_job(prepared(U0, P), "Gauss")
        @test_throws DiffBridge.DiffBridgeError prepared(U0, P; key = "never-loaded")
        @test_throws DiffBridge.DiffBridgeError prepared([1.0], P)
        err = try
            DiffBridge.load_function("bad", "x -> ")
        catch e
            e
        end
        @test DiffBridge.error_type_name(err) in ("ParseError", "ErrorException")
        @test DiffBridge.error_type_name(DimensionMismatch("x")) == "DimensionMismatch"
        @test !occursin("Stacktrace", DiffBridge.error_message(DimensionMismatch("x")))
    end
end
