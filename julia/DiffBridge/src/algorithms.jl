# Algorithm names (as bridge/_algorithms.py spells them) -> constructors. A fixed table:
# user text is looked up, never evaluated.

const ALGORITHMS = Dict{String, Any}(
    "auto" => DefaultODEAlgorithm,
    "Tsit5" => Tsit5,
    "Vern7" => Vern7,
    "Vern9" => Vern9,
    "DP5" => DP5,
    "BS3" => BS3,
    "Rodas5P" => Rodas5P,
    "Rosenbrock23" => Rosenbrock23,
    "FBDF" => FBDF,
    "QNDF" => QNDF,
    "KenCarp4" => KenCarp4,
    "TRBDF2" => TRBDF2,
    "RadauIIA5" => RadauIIA5,
)

"""
    algorithm(name) -> algorithm object

Build the solver named `name` with its default options (stiff solvers keep their default
`autodiff = AutoForwardDiff()`, which the type-generic generated code supports).
"""
function algorithm(name::AbstractString)
    ctor = get(ALGORITHMS, name, nothing)
    if ctor === nothing
        known = join(sort!(collect(keys(ALGORITHMS))), ", ")
        throw(DiffBridgeError("unknown algorithm $(repr(name)); known names: $known"))
    end
    return ctor()
end
