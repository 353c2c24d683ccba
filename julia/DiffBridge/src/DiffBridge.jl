"""
    DiffBridge

The Julia half of bridge. Python (`bridge/_julia/backend.py`, `bridge/zygote.py`) calls
these functions by name, always in separate calls for loading code and running it:

- `load_model(key, src, modname)`, `load_function(key, src)`: evaluate generated or user
  Julia source once per key into a fresh module (`models.jl`);
- `load_events(key, src, modname)`: a generated events module, once per key (`events.jl`);
- `prepare(key, u0, t0, t1, p, alg, saveat, reltol, abstol, maxiters; events, tstops)`:
  build a `Job` with its inputs copied into Julia vectors (`solve.jl`);
- `solve_job(job)`, `vjp_job(job, sensealg)`, `pullback_job(handle, cot)`: solve, and
  differentiate the solve with SciMLSensitivity + Zygote (`solve.jl`, `sensitivity.jl`;
  through events segment by segment with the jumps assembled in `jumps.jl`);
- `dense_job(job)`, `dense_eval(dense, ts)`: the dense output `sol(t)` (`events.jl`);
- `ensemble_solve(key, U0, P, ...)`, `ensemble_vjp(key, U0, P, ..., sensealg)`,
  `ensemble_pullback(handle, cot)`: every member of an ensemble (stacked columns of U0 and
  P) in one call, on Julia's threads (`ensemble.jl`);
- `zygote_gradient`, `zygote_pullback`, `zygote_back`: Zygote on arbitrary Julia code
  (`zygote.jl`);
- `error_type_name(e)`, `error_message(e)`: what Python shows for a Julia exception
  (`errors.jl`).
"""
module DiffBridge

using ChainRulesCore: AbstractZero, ignore_derivatives
using OrdinaryDiffEq: DEVerbosity, DefaultODEAlgorithm, FBDF, ODEFunction, ODEProblem,
    Rodas5P, Rosenbrock23, SciMLLogging, Tsit5, Vern7, Vern9, solve
using OrdinaryDiffEqBDF: QNDF
using OrdinaryDiffEqFIRK: RadauIIA5
using OrdinaryDiffEqLowOrderRK: BS3, DP5
using OrdinaryDiffEqSDIRK: KenCarp4, TRBDF2
using SciMLBase: SciMLBase, EnsembleProblem, EnsembleThreads, VectorContinuousCallback,
    derivative_discontinuity!, successful_retcode, terminate!
using SciMLSensitivity: BacksolveAdjoint, ForwardDiffSensitivity, GaussAdjoint,
    InterpolatingAdjoint, QuadratureAdjoint, ReverseDiffVJP
using Zygote: Zygote

include("errors.jl")
include("algorithms.jl")
include("models.jl")
include("events.jl")
include("solve.jl")
include("sensitivity.jl")
include("jumps.jl")
include("ensemble.jl")
include("zygote.jl")

end # module DiffBridge
