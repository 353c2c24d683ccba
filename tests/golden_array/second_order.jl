module SecondOrder

using LinearAlgebra: mul!

const NSTATES = 6
const NPARAMS = 13

function f!(du, u, p, t)
    T = promote_type(eltype(u), eltype(p), typeof(t))
    x1 = view(u, 1:3)
    x2 = view(u, 4:6)
    x3 = .-reshape(view(p, 1:9), 3, 3)
    x4 = tanh.(x1)
    x5 = mul!(similar(u, T, 3), transpose(x3), x4)
    x6 = x1.^2
    x7 = sum(x6)
    view(du, 1:3) .= x2
    view(du, 4:6) .= x5 .- p[10] .* x2 .+ sin.(t) .* view(p, 11:13) .- ifelse.(x1 .> 0.0, 0.1 .* x1, 0.0) .+ x7 .* 0.01
    return nothing
end

function vjp!(out, v, u, p, t)
    T = promote_type(eltype(u), eltype(v), eltype(p))
    x1 = view(u, 1:3)
    x2 = .-reshape(view(p, 1:9), 3, 3)
    x3 = tanh.(x1)
    x4 = view(v, 4:6)
    x5 = sum(x4)
    x6 = x5 .* 0.01
    x7 = .-x4
    x8 = mul!(similar(u, T, 3), x2, x4)
    view(out, 1:3) .= x6 .* (2.0 .* x1) .+ ifelse.(x1 .> 0.0, x7, 0.0) .* 0.1 .+ x8 .* (1.0 .- x3 .* x3)
    view(out, 4:6) .= view(v, 1:3) .+ x7 .* p[10]
    return nothing
end

function vjp_p!(out, v, u, p, t)
    T = promote_type(eltype(u), eltype(v), typeof(t))
    x1 = tanh.(view(u, 1:3))
    x2 = view(v, 4:6)
    x3 = .-x2 .* view(u, 4:6)
    x4 = mul!(similar(u, T, 3, 3), x1, transpose(x2))
    reshape(view(out, 1:9), 3, 3) .= .-x4
    out[10] = sum(x3)
    view(out, 11:13) .= x2 .* sin.(t)
    return nothing
end

function jvp!(out, w, u, p, t)
    T = promote_type(eltype(u), eltype(w), eltype(p))
    x1 = view(u, 1:3)
    x2 = .-reshape(view(p, 1:9), 3, 3)
    x3 = tanh.(x1)
    x4 = view(w, 1:3)
    x5 = view(w, 4:6)
    x6 = x4 .* (1.0 .- x3 .* x3)
    x7 = mul!(similar(u, T, 3), transpose(x2), x6)
    x8 = x4 .* (2.0 .* x1)
    x9 = sum(x8)
    view(out, 1:3) .= x5
    view(out, 4:6) .= x7 .- x5 .* p[10] .- ifelse.(x1 .> 0.0, x4 .* 0.1, 0.0) .+ x9 .* 0.01
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
