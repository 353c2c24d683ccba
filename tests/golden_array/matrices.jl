module Matrices

using LinearAlgebra: mul!, dot

const NSTATES = 6
const NPARAMS = 9
const C1 = reshape(Float64[-0.5, 1.0, 0.2, -1.0, -0.3, 0.1, 0.4, 0.0, -0.8], 3, 3)

function f!(du, u, p, t)
    T = promote_type(eltype(u), eltype(p))
    x1 = reshape(u, 3, 2)
    x2 = mul!(similar(u, T, 2, 2), reshape(view(p, 1:6), 2, 3), x1)
    x3 = mul!(similar(u, T, 3, 2), x1, x2)
    x4 = dropdims(sum(x3; dims=(2,)); dims=(2,))
    x5 = x4 .* 0.5
    x6 = view(u, 1:2)
    x7 = mul!(similar(u, T, 3, 2), view(p, 7:9), transpose(x6))
    x8 = mul!(similar(u, T, 3), x7, x6)
    x9 = dot(u, u)
    x10 = mul!(similar(u, T, 3), transpose(C1), x5)
    view(du, 1:3) .= x10 .+ 0.1 .* x8 .* exp.(.-x9)
    view(view(du, 4:6), 1:1) .= (clamp.(u[4], -1.0, 1.0),)
    view(view(du, 4:6), 2:3) .= abs.(view(u, 5:6)) .- view(transpose(x1), 1, 2:3) .* u[1]
    return nothing
end

function vjp!(out, v, u, p, t)
    T = promote_type(eltype(u), eltype(v), eltype(p))
    x1 = reshape(u, 3, 2)
    x2 = reshape(view(p, 1:6), 2, 3)
    x3 = mul!(similar(u, T, 2, 2), x2, x1)
    x4 = view(u, 1:2)
    x5 = view(p, 7:9)
    x6 = mul!(similar(u, T, 3, 2), x5, transpose(x4))
    x7 = transpose(x6)
    x8 = mul!(similar(u, T, 3), transpose(x7), x4)
    x9 = dot(u, u)
    x10 = exp.(.-x9)
    x11 = u[4]
    x12 = transpose(x1)
    x13 = view(v, 1:3)
    x14 = view(v, 4:6)
    x15 = view(x14, 2:3)
    x16 = .-x15
    x17 = x16 .* u[1]
    x18 = x16 .* view(x12, 1, 2:3)
    x19 = sum(x18)
    x20 = fill!(similar(u, T, 2, 3), zero(T))
    view(x20, 1, 2:3) .+= x17
    x21 = x15 .* sign.(view(u, 5:6))
    x22 = ifelse.((x11 .< -1.0) .| (x11 .> 1.0), 0.0, view(x14, 1:1)[1])
    x23 = x13 .* (0.1 .* x8)
    x24 = sum(x23)
    x25 = x13 .* x10 .* 0.1
    x26 = mul!(similar(u, T, 3), C1, x13)
    x27 = .-(x24 .* x10) .* u
    x28 = mul!(similar(u, T, 2, 3), x4, transpose(x25))
    x29 = mul!(similar(u, T, 2), x7, x25)
    x30 = mul!(similar(u, T, 2), x28, x5)
    x31 = x29 .+ x30
    x32 = x26 .* 0.5
    x33 = (similar(u, T, 3, 2) .= reshape(x32, 3, 1))
    x34 = mul!(similar(u, T, 2, 2), x12, x33)
    x35 = mul!(similar(u, T, 3, 2), x33, transpose(x3))
    x36 = mul!(similar(u, T, 3, 2), transpose(x2), x34)
    x37 = transpose(x20) .+ x35 .+ x36
    x38 = fill!(similar(u, T, 6), zero(T))
    x38[1] += x19
    view(x38, 1:2) .+= x31
    x38[4] += x22
    view(x38, 5:6) .+= x21
    out .= x27 .+ x27 .+ reshape(x37, 6) .+ x38
    return nothing
end

function vjp_p!(out, v, u, p, t)
    T = promote_type(eltype(u), eltype(v))
    x1 = view(u, 1:2)
    x2 = dot(u, u)
    x3 = transpose(reshape(u, 3, 2))
    x4 = view(v, 1:3)
    x5 = x4 .* exp.(.-x2) .* 0.1
    x6 = mul!(similar(u, T, 3), C1, x4)
    x7 = mul!(similar(u, T, 2, 3), x1, transpose(x5))
    x8 = x6 .* 0.5
    x9 = (similar(u, T, 3, 2) .= reshape(x8, 3, 1))
    x10 = mul!(similar(u, T, 2, 2), x3, x9)
    mul!(reshape(view(out, 1:6), 2, 3), x10, x3)
    mul!(view(out, 7:9), transpose(x7), x1)
    return nothing
end

function jvp!(out, w, u, p, t)
    T = promote_type(eltype(u), eltype(w), eltype(p))
    x1 = reshape(u, 3, 2)
    x2 = reshape(view(p, 1:6), 2, 3)
    x3 = mul!(similar(u, T, 2, 2), x2, x1)
    x4 = view(u, 1:2)
    x5 = view(p, 7:9)
    x6 = mul!(similar(u, T, 3, 2), x5, transpose(x4))
    x7 = transpose(x6)
    x8 = mul!(similar(u, T, 3), transpose(x7), x4)
    x9 = dot(u, u)
    x10 = exp.(.-x9)
    x11 = u[4]
    x12 = reshape(w, 3, 2)
    x13 = mul!(similar(u, T, 2, 2), x2, x12)
    x14 = mul!(similar(u, T, 3, 2), x1, x13)
    x15 = mul!(similar(u, T, 3, 2), x12, x3)
    x16 = x14 .+ x15
    x17 = dropdims(sum(x16; dims=(2,)); dims=(2,))
    x18 = x17 .* 0.5
    x19 = view(w, 1:2)
    x20 = mul!(similar(u, T, 3, 2), x5, transpose(x19))
    x21 = mul!(similar(u, T, 3), x20, x4)
    x22 = mul!(similar(u, T, 3), transpose(x7), x19)
    x23 = dot(w, u)
    x24 = dot(u, w)
    x25 = mul!(similar(u, T, 3), transpose(C1), x18)
    view(out, 1:3) .= x25 .+ ((x21 .+ x22) .* 0.1 .* x10 .+ .-(x23 .+ x24) .* x10 .* (0.1 .* x8))
    view(view(out, 4:6), 1:1) .= (ifelse.((x11 .< -1.0) .| (x11 .> 1.0), 0.0, w[4]),)
    view(view(out, 4:6), 2:3) .= view(w, 5:6) .* sign.(view(u, 5:6)) .- (view(transpose(x12), 1, 2:3) .* u[1] .+ w[1] .* view(transpose(x1), 1, 2:3))
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
