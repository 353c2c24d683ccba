module Mlp2882Tanh

using LinearAlgebra: mul!

const NSTATES = 2
const NPARAMS = 114

function f!(du, u, p, t)
    T = promote_type(eltype(u), eltype(p))
    x1 = mul!(similar(u, T, 8), transpose(reshape(view(p, 1:16), 2, 8)), u)
    x2 = tanh.(x1 .+ view(p, 17:24))
    x3 = mul!(similar(u, T, 8), transpose(reshape(view(p, 25:88), 8, 8)), x2)
    x4 = tanh.(x3 .+ view(p, 89:96))
    x5 = mul!(similar(u, T, 2), transpose(reshape(view(p, 97:112), 8, 2)), x4)
    du .= x5 .+ view(p, 113:114)
    return nothing
end

function vjp!(out, v, u, p, t)
    T = promote_type(eltype(u), eltype(v), eltype(p))
    x1 = reshape(view(p, 1:16), 2, 8)
    x2 = mul!(similar(u, T, 8), transpose(x1), u)
    x3 = tanh.(x2 .+ view(p, 17:24))
    x4 = reshape(view(p, 25:88), 8, 8)
    x5 = mul!(similar(u, T, 8), transpose(x4), x3)
    x6 = tanh.(x5 .+ view(p, 89:96))
    x7 = mul!(similar(u, T, 8), reshape(view(p, 97:112), 8, 2), v)
    x8 = x7 .* (1.0 .- x6 .* x6)
    x9 = mul!(similar(u, T, 8), x4, x8)
    x10 = x9 .* (1.0 .- x3 .* x3)
    mul!(out, x1, x10)
    return nothing
end

function vjp_p!(out, v, u, p, t)
    T = promote_type(eltype(u), eltype(v), eltype(p))
    x1 = mul!(similar(u, T, 8), transpose(reshape(view(p, 1:16), 2, 8)), u)
    x2 = tanh.(x1 .+ view(p, 17:24))
    x3 = reshape(view(p, 25:88), 8, 8)
    x4 = mul!(similar(u, T, 8), transpose(x3), x2)
    x5 = tanh.(x4 .+ view(p, 89:96))
    x6 = mul!(similar(u, T, 8), reshape(view(p, 97:112), 8, 2), v)
    x7 = x6 .* (1.0 .- x5 .* x5)
    x8 = mul!(similar(u, T, 8), x3, x7)
    x9 = x8 .* (1.0 .- x2 .* x2)
    mul!(reshape(view(out, 1:16), 2, 8), u, transpose(x9))
    view(out, 17:24) .= x9
    mul!(reshape(view(out, 25:88), 8, 8), x2, transpose(x7))
    view(out, 89:96) .= x7
    mul!(reshape(view(out, 97:112), 8, 2), x5, transpose(v))
    view(out, 113:114) .= v
    return nothing
end

function jvp!(out, w, u, p, t)
    T = promote_type(eltype(u), eltype(w), eltype(p))
    x1 = reshape(view(p, 1:16), 2, 8)
    x2 = mul!(similar(u, T, 8), transpose(x1), u)
    x3 = tanh.(x2 .+ view(p, 17:24))
    x4 = reshape(view(p, 25:88), 8, 8)
    x5 = mul!(similar(u, T, 8), transpose(x4), x3)
    x6 = tanh.(x5 .+ view(p, 89:96))
    x7 = mul!(similar(u, T, 8), transpose(x1), w)
    x8 = x7 .* (1.0 .- x3 .* x3)
    x9 = mul!(similar(u, T, 8), transpose(x4), x8)
    x10 = x9 .* (1.0 .- x6 .* x6)
    mul!(out, transpose(reshape(view(p, 97:112), 8, 2)), x10)
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
    e = fill!(similar(u, promote_type(eltype(pJ), eltype(u))), 0)
    for i in 1:NSTATES
        e[i] = 1
        vjp_p!(view(pJ, i, :), e, u, p, t)
        e[i] = 0
    end
    return nothing
end

end # module
