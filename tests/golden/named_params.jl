module NamedParams

const NSTATES = 2
const NPARAMS = 7

function f!(du, u, p, t)
    x1 = p[1]*u[1] + p[2]*u[2]
    x2 = p[3]*u[1] + p[4]*u[2]
    x3 = tanh(u[1])
    x4 = tanh(u[2])
    du[1] = x1 + p[5]*p[7]*x3
    du[2] = x2 + p[6]*p[7]*x4
    return nothing
end

function jac!(J, u, p, t)
    fill!(J, zero(eltype(J)))
    x3 = tanh(u[1])
    x4 = tanh(u[2])
    J[1, 1] = p[1] + p[5]*p[7]*(1 - x3^2)
    J[1, 2] = p[2]
    J[2, 1] = p[3]
    J[2, 2] = p[4] + p[6]*p[7]*(1 - x4^2)
    return nothing
end

function paramjac!(pJ, u, p, t)
    fill!(pJ, zero(eltype(pJ)))
    x3 = tanh(u[1])
    x4 = tanh(u[2])
    pJ[1, 1] = u[1]
    pJ[1, 2] = u[2]
    pJ[1, 5] = p[7]*x3
    pJ[1, 7] = p[5]*x3
    pJ[2, 3] = u[1]
    pJ[2, 4] = u[2]
    pJ[2, 6] = p[7]*x4
    pJ[2, 7] = p[6]*x4
    return nothing
end

function vjp!(out, v, u, p, t)
    x3 = tanh(u[1])
    x4 = tanh(u[2])
    out[1] = p[3]*v[2] + v[1]*(p[1] + p[5]*p[7]*(1 - x3^2))
    out[2] = p[2]*v[1] + v[2]*(p[4] + p[6]*p[7]*(1 - x4^2))
    return nothing
end

function vjp_p!(out, v, u, p, t)
    x3 = tanh(u[1])
    x4 = tanh(u[2])
    out[1] = u[1]*v[1]
    out[2] = u[2]*v[1]
    out[3] = u[1]*v[2]
    out[4] = u[2]*v[2]
    out[5] = p[7]*v[1]*x3
    out[6] = p[7]*v[2]*x4
    out[7] = p[5]*v[1]*x3 + p[6]*v[2]*x4
    return nothing
end

end # module
