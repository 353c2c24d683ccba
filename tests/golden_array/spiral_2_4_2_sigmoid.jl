module Spiral242Sigmoid

using LinearAlgebra: mul!

const NSTATES = 2
const NPARAMS = 22

function f!(du, u, p, t)
    T = promote_type(eltype(u), eltype(p))
    x1 = u.^3
    x2 = mul!(similar(u, T, 4), transpose(reshape(view(p, 1:8), 2, 4)), x1)
    x3 = 1.0 ./ (1.0 .+ exp.(.-(x2 .+ view(p, 9:12))))
    x4 = mul!(similar(u, T, 2), transpose(reshape(view(p, 13:20), 4, 2)), x3)
    du .= x4 .+ view(p, 21:22)
    return nothing
end

function vjp!(out, v, u, p, t)
    T = promote_type(eltype(u), eltype(v), eltype(p))
    x1 = u.^3
    x2 = reshape(view(p, 1:8), 2, 4)
    x3 = mul!(similar(u, T, 4), transpose(x2), x1)
    x4 = exp.(.-(x3 .+ view(p, 9:12)))
    x5 = 1.0 .+ x4
    x6 = mul!(similar(u, T, 4), reshape(view(p, 13:20), 4, 2), v)
    x7 = .-(x6 .* .-(1.0 ./ x5 ./ x5) .* x4)
    x8 = mul!(similar(u, T, 2), x2, x7)
    out .= x8 .* (3.0 .* u.^2)
    return nothing
end

function vjp_p!(out, v, u, p, t)
    T = promote_type(eltype(u), eltype(v), eltype(p))
    x1 = u.^3
    x2 = mul!(similar(u, T, 4), transpose(reshape(view(p, 1:8), 2, 4)), x1)
    x3 = exp.(.-(x2 .+ view(p, 9:12)))
    x4 = 1.0 .+ x3
    x5 = 1.0 ./ x4
    x6 = mul!(similar(u, T, 4), reshape(view(p, 13:20), 4, 2), v)
    x7 = .-(x6 .* .-(x5 ./ x4) .* x3)
    mul!(reshape(view(out, 1:8), 2, 4), x1, transpose(x7))
    view(out, 9:12) .= x7
    mul!(reshape(view(out, 13:20), 4, 2), x5, transpose(v))
    view(out, 21:22) .= v
    return nothing
end

function jvp!(out, w, u, p, t)
    T = promote_type(eltype(u), eltype(w), eltype(p))
    x1 = u.^3
    x2 = reshape(view(p, 1:8), 2, 4)
    x3 = mul!(similar(u, T, 4), transpose(x2), x1)
    x4 = exp.(.-(x3 .+ view(p, 9:12)))
    x5 = 1.0 .+ x4
    x6 = w .* (3.0 .* u.^2)
    x7 = mul!(similar(u, T, 4), transpose(x2), x6)
    x8 = .-x7 .* x4 .* .-(1.0 ./ x5 ./ x5)
    mul!(out, transpose(reshape(view(p, 13:20), 4, 2)), x8)
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
