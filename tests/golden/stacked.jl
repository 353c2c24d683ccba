module Stacked

const NSTATES = 4
const NPARAMS = 5

function f!(du, u, p, t)
    x1 = p[1]*u[1] + p[2]*u[2]
    x2 = p[3]*u[3] + p[4]*u[4]
    x3 = log1p(u[1]^2)
    x4 = expm1(-x1)
    x5 = sqrt(1.0 + u[3]^2)
    x6 = cos(t)
    x7 = atan(u[4])
    x8 = sinh(u[2])
    x9 = cosh(u[1])
    x10 = tan(0.1*u[3])
    du[1] = x3 + x7
    du[2] = x4 + 0.1*x8
    du[3] = 0.1*x9 + x5*x6
    du[4] = x10 + x2
    return nothing
end

function jac!(J, u, p, t)
    fill!(J, zero(eltype(J)))
    x1 = p[1]*u[1] + p[2]*u[2]
    x6 = cos(t)
    x10 = tan(0.1*u[3])
    c1 = exp(-x1)
    J[1, 1] = 2*u[1]/(1 + u[1]^2)
    J[1, 4] = 1/(1 + u[4]^2)
    J[2, 1] = -p[1]*c1
    J[2, 2] = 0.1*cosh(u[2]) - p[2]*c1
    J[3, 1] = 0.1*sinh(u[1])
    J[3, 3] = u[3]*x6/sqrt(1.0 + u[3]^2)
    J[4, 3] = 0.1 + p[3] + 0.1*x10^2
    J[4, 4] = p[4]
    return nothing
end

function paramjac!(pJ, u, p, t)
    fill!(pJ, zero(eltype(pJ)))
    x1 = p[1]*u[1] + p[2]*u[2]
    c1 = exp(-x1)
    pJ[2, 1] = -u[1]*c1
    pJ[2, 2] = -u[2]*c1
    pJ[4, 3] = u[3]
    pJ[4, 4] = u[4]
    return nothing
end

function vjp!(out, v, u, p, t)
    x1 = p[1]*u[1] + p[2]*u[2]
    x6 = cos(t)
    x10 = tan(0.1*u[3])
    c1 = exp(-x1)
    out[1] = 0.1*v[3]*sinh(u[1]) - p[1]*v[2]*c1 + 2*u[1]*v[1]/(1 + u[1]^2)
    out[2] = v[2]*(0.1*cosh(u[2]) - p[2]*c1)
    out[3] = v[4]*(0.1 + p[3] + 0.1*x10^2) + u[3]*v[3]*x6/sqrt(1.0 + u[3]^2)
    out[4] = p[4]*v[4] + v[1]/(1 + u[4]^2)
    return nothing
end

function vjp_p!(out, v, u, p, t)
    x1 = p[1]*u[1] + p[2]*u[2]
    c1 = exp(-x1)
    out[1] = -u[1]*v[2]*c1
    out[2] = -u[2]*v[2]*c1
    out[3] = u[3]*v[4]
    out[4] = u[4]*v[4]
    out[5] = 0
    return nothing
end

end # module
