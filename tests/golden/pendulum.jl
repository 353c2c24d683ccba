module Pendulum

const NSTATES = 2
const NPARAMS = 3

function f!(du, u, p, t)
    x1 = sin(u[1])
    du[1] = u[2]
    du[2] = -p[3]*u[2] - p[1]*x1/p[2]
    return nothing
end

function jac!(J, u, p, t)
    fill!(J, zero(eltype(J)))
    J[1, 2] = 1
    J[2, 1] = -p[1]*cos(u[1])/p[2]
    J[2, 2] = -p[3]
    return nothing
end

function paramjac!(pJ, u, p, t)
    fill!(pJ, zero(eltype(pJ)))
    x1 = sin(u[1])
    pJ[2, 1] = -x1/p[2]
    pJ[2, 2] = p[1]*x1/p[2]^2
    pJ[2, 3] = -u[2]
    return nothing
end

function vjp!(out, v, u, p, t)
    out[1] = -p[1]*v[2]*cos(u[1])/p[2]
    out[2] = v[1] - p[3]*v[2]
    return nothing
end

function vjp_p!(out, v, u, p, t)
    x1 = sin(u[1])
    out[1] = -v[2]*x1/p[2]
    out[2] = p[1]*v[2]*x1/p[2]^2
    out[3] = -u[2]*v[2]
    return nothing
end

end # module
