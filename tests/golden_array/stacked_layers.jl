module StackedLayers

using LinearAlgebra: mul!

const NSTATES = 2
const NPARAMS = 13

function f!(du, u, p, t)
    T = promote_type(eltype(u), eltype(p))
    x1 = mul!(similar(u, T, 4), transpose(reshape(view(p, 1:8), 2, 4)), u)
    x2 = tanh.(x1 .+ view(p, 9:12))
    x3 = cat(reshape(view(x2, 1:2), 2, 1), reshape(view(view(x2, 3:4), 2:-1:1), 2, 1); dims=2)
    x4 = dropdims(sum(x3; dims=(1,)); dims=(1,))
    x5 = x3 .* reshape(x4, 1, 2)
    x6 = dropdims(sum(x5; dims=(2,)); dims=(2,))
    x7 = vcat(fill(u[2], 1), fill(u[1], 1))
    du .= (x6 .+ x7 .* p[13]) ./ (1.0 .+ u.^2)
    return nothing
end

function vjp!(out, v, u, p, t)
    T = promote_type(eltype(u), eltype(v), eltype(p))
    x1 = reshape(view(p, 1:8), 2, 4)
    x2 = mul!(similar(u, T, 4), transpose(x1), u)
    x3 = tanh.(x2 .+ view(p, 9:12))
    x4 = cat(reshape(view(x3, 1:2), 2, 1), reshape(view(view(x3, 3:4), 2:-1:1), 2, 1); dims=2)
    x5 = dropdims(sum(x4; dims=(1,)); dims=(1,))
    x6 = reshape(x5, 1, 2)
    x7 = x4 .* x6
    x8 = dropdims(sum(x7; dims=(2,)); dims=(2,))
    x9 = vcat(fill(u[2], 1), fill(u[1], 1))
    x10 = p[13]
    x11 = 1.0 .+ u.^2
    x12 = v .* (1.0 ./ x11)
    x13 = x12 .* x10
    x14 = (similar(u, T, 2, 2) .= reshape(x12, 2, 1))
    x15 = x14 .* x4
    x16 = dropdims(sum(x15; dims=(1,)); dims=(1,))
    x17 = x14 .* x6 .+ reshape(x16, 1, 2)
    x18 = fill!(similar(u, T, 2), zero(T))
    view(x18, 2:-1:1) .+= reshape(view(x17, :, 2:2), 2)
    x19 = fill!(similar(u, T, 4), zero(T))
    view(x19, 1:2) .+= reshape(view(x17, :, 1:1), 2)
    view(x19, 3:4) .+= x18
    x20 = x19 .* (1.0 .- x3 .* x3)
    x21 = mul!(similar(u, T, 2), x1, x20)
    x22 = fill!(similar(u, T, 2), zero(T))
    x22[1] += view(x13, 2:2)[1]
    x22[2] += view(x13, 1:1)[1]
    out .= v .* .-((x8 .+ x9 .* x10) ./ x11 ./ x11) .* (2.0 .* u) .+ x21 .+ x22
    return nothing
end

function vjp_p!(out, v, u, p, t)
    T = promote_type(eltype(u), eltype(v), eltype(p))
    x1 = mul!(similar(u, T, 4), transpose(reshape(view(p, 1:8), 2, 4)), u)
    x2 = tanh.(x1 .+ view(p, 9:12))
    x3 = cat(reshape(view(x2, 1:2), 2, 1), reshape(view(view(x2, 3:4), 2:-1:1), 2, 1); dims=2)
    x4 = dropdims(sum(x3; dims=(1,)); dims=(1,))
    x5 = vcat(fill(u[2], 1), fill(u[1], 1))
    x6 = v .* (1.0 ./ (1.0 .+ u.^2))
    x7 = (similar(u, T, 2, 2) .= reshape(x6, 2, 1))
    x8 = x7 .* x3
    x9 = dropdims(sum(x8; dims=(1,)); dims=(1,))
    x10 = x7 .* reshape(x4, 1, 2) .+ reshape(x9, 1, 2)
    x11 = fill!(similar(u, T, 2), zero(T))
    view(x11, 2:-1:1) .+= reshape(view(x10, :, 2:2), 2)
    x12 = fill!(similar(u, T, 4), zero(T))
    view(x12, 1:2) .+= reshape(view(x10, :, 1:1), 2)
    view(x12, 3:4) .+= x11
    x13 = x12 .* (1.0 .- x2 .* x2)
    x14 = x6 .* x5
    mul!(reshape(view(out, 1:8), 2, 4), u, transpose(x13))
    view(out, 9:12) .= x13
    out[13] = sum(x14)
    return nothing
end

function jvp!(out, w, u, p, t)
    T = promote_type(eltype(u), eltype(w), eltype(p))
    x1 = reshape(view(p, 1:8), 2, 4)
    x2 = mul!(similar(u, T, 4), transpose(x1), u)
    x3 = tanh.(x2 .+ view(p, 9:12))
    x4 = cat(reshape(view(x3, 1:2), 2, 1), reshape(view(view(x3, 3:4), 2:-1:1), 2, 1); dims=2)
    x5 = dropdims(sum(x4; dims=(1,)); dims=(1,))
    x6 = reshape(x5, 1, 2)
    x7 = x4 .* x6
    x8 = dropdims(sum(x7; dims=(2,)); dims=(2,))
    x9 = vcat(fill(u[2], 1), fill(u[1], 1))
    x10 = p[13]
    x11 = 1.0 .+ u.^2
    x12 = mul!(similar(u, T, 4), transpose(x1), w)
    x13 = x12 .* (1.0 .- x3 .* x3)
    x14 = cat(reshape(view(x13, 1:2), 2, 1), reshape(view(view(x13, 3:4), 2:-1:1), 2, 1); dims=2)
    x15 = dropdims(sum(x14; dims=(1,)); dims=(1,))
    x16 = x14 .* x6 .+ reshape(x15, 1, 2) .* x4
    x17 = dropdims(sum(x16; dims=(2,)); dims=(2,))
    x18 = vcat(fill(w[2], 1), fill(w[1], 1))
    out .= (x17 .+ x18 .* x10) .* (1.0 ./ x11) .+ w .* (2.0 .* u) .* .-((x8 .+ x9 .* x10) ./ x11 ./ x11)
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
