module Tensor3

const NSTATES = 6
const NPARAMS = 6

function f!(du, u, p, t)
    x1 = PermutedDimsArray(reshape(u, 3, 2, 1), (2, 3, 1)) .* reshape(p, 2, 1, 3)
    x2 = dropdims(sum(x1; dims=(1,)); dims=(1,))
    x3 = dropdims(sum(x2; dims=(1,)); dims=(1,))
    x4 = p.^2
    x5 = sum(x4)
    view(du, 1:3) .= x3 .* exp.(.-t)
    view(du, 4:6) .= view(u, 4:6) .* x5
    return nothing
end

function vjp!(out, v, u, p, t)
    T = promote_type(eltype(u), eltype(v), eltype(p), typeof(t))
    x1 = p.^2
    x2 = sum(x1)
    x3 = view(v, 4:6) .* x2
    x4 = view(v, 1:3) .* exp.(.-t)
    x5 = reshape(x4, 1, 1, 3) .* reshape(p, 2, 1, 3)
    x6 = fill!(similar(u, T, 6), zero(T))
    view(x6, 4:6) .+= x3
    out .= reshape(PermutedDimsArray(x5, (3, 1, 2)), 6) .+ x6
    return nothing
end

function vjp_p!(out, v, u, p, t)
    x1 = view(v, 1:3) .* exp.(.-t)
    x2 = view(v, 4:6) .* view(u, 4:6)
    x3 = sum(x2)
    x4 = reshape(x1, 1, 1, 3) .* PermutedDimsArray(reshape(u, 3, 2, 1), (2, 3, 1))
    out .= x3 .* (2.0 .* p) .+ reshape(x4, 6)
    return nothing
end

function jvp!(out, w, u, p, t)
    x1 = p.^2
    x2 = sum(x1)
    x3 = PermutedDimsArray(reshape(w, 3, 2, 1), (2, 3, 1)) .* reshape(p, 2, 1, 3)
    x4 = dropdims(sum(x3; dims=(1,)); dims=(1,))
    x5 = dropdims(sum(x4; dims=(1,)); dims=(1,))
    view(out, 1:3) .= x5 .* exp.(.-t)
    view(out, 4:6) .= view(w, 4:6) .* x2
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
