module ConstantNet

using LinearAlgebra: mul!

const NSTATES = 2
const NPARAMS = 0
const C1 = reshape(Float64[-0.5, -1.0, 1.0, -0.3], 2, 2)
const C2 = reshape(Float64[-0.5, 1.0, -1.0, -0.3], 2, 2)

function f!(du, u, p, t)
    T = promote_type(eltype(u))
    x1 = mul!(similar(u, T, 2), transpose(C1), u)
    x2 = tanh.(x1)
    x3 = mul!(similar(u, T, 2), transpose(C2), x2)
    du .= x3 .- 0.1 .* u
    return nothing
end

function vjp!(out, v, u, p, t)
    T = promote_type(eltype(u), eltype(v))
    x1 = mul!(similar(u, T, 2), transpose(C1), u)
    x2 = tanh.(x1)
    x3 = mul!(similar(u, T, 2), C2, v)
    x4 = x3 .* (1.0 .- x2 .* x2)
    x5 = mul!(similar(u, T, 2), C1, x4)
    out .= .-v .* 0.1 .+ x5
    return nothing
end

function vjp_p!(out, v, u, p, t)
    fill!(out, zero(eltype(out)))
    return nothing
end

function jvp!(out, w, u, p, t)
    T = promote_type(eltype(u), eltype(w))
    x1 = mul!(similar(u, T, 2), transpose(C1), u)
    x2 = tanh.(x1)
    x3 = mul!(similar(u, T, 2), transpose(C1), w)
    x4 = x3 .* (1.0 .- x2 .* x2)
    x5 = mul!(similar(u, T, 2), transpose(C2), x4)
    out .= x5 .- w .* 0.1
    return nothing
end

function jac!(J, u, p, t)
    e = fill!(similar(u, promote_type(eltype(J), eltype(u))), 0)
    for j in 1:NSTATES
        e[j] = 1
        jvp!(view(J, :, j), e, u, p, t)
        e[j] = 0
    end
    return nothing
end

function paramjac!(pJ, u, p, t)
    fill!(pJ, zero(eltype(pJ)))
    return nothing
end

end # module
