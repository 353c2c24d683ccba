module NamedMlp

using LinearAlgebra: mul!

const NSTATES = 2
const NPARAMS = 33

function f!(du, u, p, t)
    T = promote_type(eltype(u), eltype(p))
    x1 = mul!(similar(u, T, 6), transpose(reshape(view(p, 1:12), 2, 6)), u)
    x2 = tanh.(x1 .+ view(p, 13:18))
    x3 = mul!(similar(u, T, 2), transpose(reshape(view(p, 19:30), 6, 2)), x2)
    du .= x3 .+ view(p, 31:32) .* view(p, 33:33)[1]
    return nothing
end

function vjp!(out, v, u, p, t)
    T = promote_type(eltype(u), eltype(v), eltype(p))
    x1 = reshape(view(p, 1:12), 2, 6)
    x2 = mul!(similar(u, T, 6), transpose(x1), u)
    x3 = tanh.(x2 .+ view(p, 13:18))
    x4 = mul!(similar(u, T, 6), reshape(view(p, 19:30), 6, 2), v)
    x5 = x4 .* (1.0 .- x3 .* x3)
    mul!(out, x1, x5)
    return nothing
end

function vjp_p!(out, v, u, p, t)
    T = promote_type(eltype(u), eltype(v), eltype(p))
    x1 = mul!(similar(u, T, 6), transpose(reshape(view(p, 1:12), 2, 6)), u)
    x2 = tanh.(x1 .+ view(p, 13:18))
    x3 = mul!(similar(u, T, 6), reshape(view(p, 19:30), 6, 2), v)
    x4 = x3 .* (1.0 .- x2 .* x2)
    x5 = v .* view(p, 31:32)
    x6 = sum(x5)
    mul!(reshape(view(out, 1:12), 2, 6), u, transpose(x4))
    view(out, 13:18) .= x4
    mul!(reshape(view(out, 19:30), 6, 2), x2, transpose(v))
    view(out, 31:32) .= v .* view(p, 33:33)[1]
    view(out, 33:33) .= fill(x6, 1)
    return nothing
end

function jvp!(out, w, u, p, t)
    T = promote_type(eltype(u), eltype(w), eltype(p))
    x1 = reshape(view(p, 1:12), 2, 6)
    x2 = mul!(similar(u, T, 6), transpose(x1), u)
    x3 = tanh.(x2 .+ view(p, 13:18))
    x4 = mul!(similar(u, T, 6), transpose(x1), w)
    x5 = x4 .* (1.0 .- x3 .* x3)
    mul!(out, transpose(reshape(view(p, 19:30), 6, 2)), x5)
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
