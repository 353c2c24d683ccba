module DomainFunctions

using LinearAlgebra: mul!

const NSTATES = 2
const NPARAMS = 6
nan_log(x) = log(ifelse(x < zero(x), zero(x) / zero(x), x))
nan_sqrt(x) = sqrt(ifelse(x < zero(x), zero(x) / zero(x), x))
nan_asin(x) = asin(ifelse(abs(x) > one(x), zero(x) / zero(x), x))
nan_atanh(x) = atanh(ifelse(abs(x) > one(x), zero(x) / zero(x), x))
nan_pow(x, y) = ifelse((x < zero(x)) & !isinteger(y), zero(x) / zero(x), x)^y

function f!(du, u, p, t)
    T = promote_type(eltype(u), eltype(p))
    x1 = mul!(similar(u, T, 2), transpose(reshape(view(p, 1:4), 2, 2)), u)
    du .= nan_atanh.(0.5 .* tanh.(nan_sqrt.(abs.(x1) .+ 1.0) .+ nan_log.(1.0 .+ u.^2) .* p[5])) .+ nan_pow.(abs.(u), p[6]) .+ nan_asin.(sin.(u))
    return nothing
end

function vjp!(out, v, u, p, t)
    T = promote_type(eltype(u), eltype(v), eltype(p))
    x1 = reshape(view(p, 1:4), 2, 2)
    x2 = mul!(similar(u, T, 2), transpose(x1), u)
    x3 = nan_sqrt.(abs.(x2) .+ 1.0)
    x4 = 1.0 .+ u.^2
    x5 = p[5]
    x6 = tanh.(x3 .+ nan_log.(x4) .* x5)
    x7 = 0.5 .* x6
    x8 = p[6]
    x9 = sin.(u)
    x10 = v .* (1.0 ./ (1.0 .- x7 .* x7)) .* 0.5 .* (1.0 .- x6 .* x6)
    x11 = x10 .* (0.5 ./ x3) .* sign.(x2)
    x12 = mul!(similar(u, T, 2), x1, x11)
    out .= v .* (1.0 ./ nan_sqrt.(1.0 .- x9 .* x9)) .* cos.(u) .+ v .* (x8 .* nan_pow.(abs.(u), x8 .- 1.0)) .* sign.(u) .+ x10 .* x5 .* (1.0 ./ x4) .* (2.0 .* u) .+ x12
    return nothing
end

function vjp_p!(out, v, u, p, t)
    T = promote_type(eltype(u), eltype(v), eltype(p))
    x1 = mul!(similar(u, T, 2), transpose(reshape(view(p, 1:4), 2, 2)), u)
    x2 = nan_sqrt.(abs.(x1) .+ 1.0)
    x3 = nan_log.(1.0 .+ u.^2)
    x4 = tanh.(x2 .+ x3 .* p[5])
    x5 = 0.5 .* x4
    x6 = abs.(u)
    x7 = v .* (1.0 ./ (1.0 .- x5 .* x5)) .* 0.5 .* (1.0 .- x4 .* x4)
    x8 = x7 .* (0.5 ./ x2) .* sign.(x1)
    x9 = v .* (nan_pow.(x6, p[6]) .* nan_log.(x6))
    x10 = x7 .* x3
    mul!(reshape(view(out, 1:4), 2, 2), u, transpose(x8))
    out[5] = sum(x10)
    out[6] = sum(x9)
    return nothing
end

function jvp!(out, w, u, p, t)
    T = promote_type(eltype(u), eltype(w), eltype(p))
    x1 = reshape(view(p, 1:4), 2, 2)
    x2 = mul!(similar(u, T, 2), transpose(x1), u)
    x3 = nan_sqrt.(abs.(x2) .+ 1.0)
    x4 = 1.0 .+ u.^2
    x5 = p[5]
    x6 = tanh.(x3 .+ nan_log.(x4) .* x5)
    x7 = 0.5 .* x6
    x8 = p[6]
    x9 = sin.(u)
    x10 = mul!(similar(u, T, 2), transpose(x1), w)
    out .= (x10 .* sign.(x2) .* (0.5 ./ x3) .+ w .* (2.0 .* u) .* (1.0 ./ x4) .* x5) .* (1.0 .- x6 .* x6) .* 0.5 .* (1.0 ./ (1.0 .- x7 .* x7)) .+ w .* sign.(u) .* (x8 .* nan_pow.(abs.(u), x8 .- 1.0)) .+ w .* cos.(u) .* (1.0 ./ nan_sqrt.(1.0 .- x9 .* x9))
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
