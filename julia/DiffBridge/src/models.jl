# Right-hand sides: bridge's generated model modules and users' Julia functions, each
# evaluated once per key into a fresh module and cached.
#
# World age: code evaluated here is too new for the call that evaluated it. Python loads
# in one call and solves in a later one, and every entry point that runs loaded code goes
# through `Base.invokelatest`, so either order of events is safe.

"""A right-hand side DiffBridge can build an `ODEFunction` from."""
abstract type RHS end

"""
    GeneratedRHS

A module produced by bridge's tracer (`model.julia_source(modname)`): in-place, type-generic
`f!(du,u,p,t)`, `jac!(J,u,p,t)`, `paramjac!(pJ,u,p,t)`, `vjp!(out,v,u,p,t)` (out = (∂f/∂u)ᵀv),
`vjp_p!(out,v,u,p,t)` (out = (∂f/∂p)ᵀv), and `const NSTATES`, `const NPARAMS`.
"""
struct GeneratedRHS <: RHS
    mod::Module
    nstates::Int
    nparams::Int
end

"""
    UserRHS

A user's in-place `f!(du, u, p, t)` (`bridge.JuliaFunction`): no derivatives supplied.
"""
struct UserRHS <: RHS
    f::Any
end

const GENERATED_FUNCTIONS = (:f!, :jac!, :paramjac!, :vjp!, :vjp_p!)
const MODELS = Dict{String, GeneratedRHS}()
const FUNCTIONS = Dict{String, Any}()
const CACHE_LOCK = ReentrantLock()

fresh_module(key::AbstractString) = Module(Symbol("DiffBridgeCode_", replace(key, r"\W" => "_")))

latest_global(m::Module, name::Symbol) = Base.invokelatest(getglobal, m, name)

"""
    include_module(key, src, modname, required) -> Module

Evaluate generated source (a `module modname ... end`) into its own fresh module and return
the inner module, after checking that it defines every name in `required`.
"""
function include_module(key::AbstractString, src::AbstractString, modname::AbstractString, required)
    host = fresh_module(key)
    Base.include_string(host, src, "bridge_$(key).jl")
    name = Symbol(modname)
    isdefined(host, name) ||
        throw(DiffBridgeError("generated source for key $(repr(key)) does not define module $modname"))
    mod = latest_global(host, name)
    mod isa Module ||
        throw(DiffBridgeError("$modname in the generated source is a $(typeof(mod)), not a module"))
    for fname in required
        isdefined(mod, fname) ||
            throw(DiffBridgeError("generated module $modname does not define $fname"))
    end
    return mod
end

"""
    load_model(key, src, modname) -> Bool

Evaluate generated model source (a `module modname ... end`) into its own fresh module,
once per `key`. Returns `true` when it was loaded now, `false` when already cached.
"""
function load_model(key::AbstractString, src::AbstractString, modname::AbstractString)
    lock(CACHE_LOCK) do
        haskey(MODELS, key) && return false
        mod = include_module(key, src, modname, (GENERATED_FUNCTIONS..., :NSTATES, :NPARAMS))
        nstates = Int(latest_global(mod, :NSTATES))
        nparams = Int(latest_global(mod, :NPARAMS))
        MODELS[String(key)] = GeneratedRHS(mod, nstates, nparams)
        return true
    end
end

"""
    load_function(key, src) -> function

Evaluate Julia source whose value is a function (`"x -> sum(abs2, x)"`, or a block ending
in a function) into its own fresh module, once per `key`, and return that function.
"""
function load_function(key::AbstractString, src::AbstractString)
    lock(CACHE_LOCK) do
        cached = get(FUNCTIONS, key, nothing)
        cached === nothing || return cached
        f = Base.include_string(fresh_module(key), src, "bridge_function_$(key).jl")
        f isa Base.Callable ||
            throw(DiffBridgeError("the Julia source must evaluate to a function, got a $(typeof(f))"))
        FUNCTIONS[String(key)] = f
        return f
    end
end

"""
    register_function(key, src) -> Nothing

`load_function` for Python, which only needs the side effect (no function object crosses).
"""
register_function(key::AbstractString, src::AbstractString) = (load_function(key, src); nothing)

"""
    lookup_rhs(key) -> RHS

The right-hand side loaded under `key` by `load_model` or `load_function`.
"""
function lookup_rhs(key::AbstractString)
    lock(CACHE_LOCK) do
        model = get(MODELS, key, nothing)
        model === nothing || return model
        f = get(FUNCTIONS, key, nothing)
        f === nothing || return UserRHS(f)
        throw(DiffBridgeError("no model or function was loaded under key $(repr(key))"))
    end
end

"""
    ode_function(rhs) -> ODEFunction

`FullSpecialize`, so that nothing is wrapped in FunctionWrappers: the generated `jac`,
`paramjac`, `vjp` and `vjp_p` stay visible to the solvers and to SciMLSensitivity.
"""
function ode_function(rhs::GeneratedRHS)
    m = rhs.mod
    return ODEFunction{true, SciMLBase.FullSpecialize}(
        latest_global(m, :f!);
        jac = latest_global(m, :jac!),
        paramjac = latest_global(m, :paramjac!),
        vjp = latest_global(m, :vjp!),
        vjp_p = latest_global(m, :vjp_p!),
    )
end

ode_function(rhs::UserRHS) = ODEFunction{true, SciMLBase.FullSpecialize}(rhs.f)

"""The in-place right-hand side `f!(du, u, p, t)` itself (for the jumps at events)."""
rhs_function(rhs::GeneratedRHS) = latest_global(rhs.mod, :f!)
rhs_function(rhs::UserRHS) = rhs.f

"""
    reflected!(g!, out, args..., s)

`g!(out, args..., -s)`, then `out` negated in place element by element (any array the
solvers and AD hand over, including a `Zygote.Buffer`, which has no broadcasting `.=`).
"""
function reflected!(g!, out, args...)
    g!(out, Base.front(args)..., -last(args))
    for i in eachindex(out)
        out[i] = -out[i]
    end
    return nothing
end

"""
    reflected_function(rhs) -> ODEFunction

The right-hand side in reflected time s = -t: v(s) = u(-s) solves dv/ds = -f(v, p, -s), so
f, jac, paramjac, vjp and vjp_p are the originals evaluated at -s, negated. Like
`ode_function`, `FullSpecialize` keeps the derivatives visible.
"""
function reflected_function(rhs::GeneratedRHS)
    m = rhs.mod
    f!, jac!, paramjac!, vjp!, vjp_p! = map(name -> latest_global(m, name), GENERATED_FUNCTIONS)
    return ODEFunction{true, SciMLBase.FullSpecialize}(
        (du, u, p, s) -> reflected!(f!, du, u, p, s);
        jac = (J, u, p, s) -> reflected!(jac!, J, u, p, s),
        paramjac = (pJ, u, p, s) -> reflected!(paramjac!, pJ, u, p, s),
        vjp = (out, v, u, p, s) -> reflected!(vjp!, out, v, u, p, s),
        vjp_p = (out, v, u, p, s) -> reflected!(vjp_p!, out, v, u, p, s),
    )
end

function reflected_function(rhs::UserRHS)
    f! = rhs.f
    return ODEFunction{true, SciMLBase.FullSpecialize}((du, u, p, s) -> reflected!(f!, du, u, p, s))
end

"""Whether the right-hand side brings its own vector-Jacobian products."""
has_vjp(::GeneratedRHS) = true
has_vjp(::UserRHS) = false

function check_sizes(rhs::GeneratedRHS, u0, p)
    length(u0) == rhs.nstates || throw(DiffBridgeError(
        "the model has $(rhs.nstates) states, but u0 has length $(length(u0))"))
    length(p) == rhs.nparams || throw(DiffBridgeError(
        "the model has $(rhs.nparams) parameters, but p has length $(length(p))"))
    return nothing
end

check_sizes(::UserRHS, u0, p) = nothing
