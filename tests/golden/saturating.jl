module Saturating

const NSTATES = 2
const NPARAMS = 3

function f!(du, u, p, t)
    x1 = exp(-t)
    du[1] = -ifelse(u[1] > 0, p[1]*u[1], 0.1*p[1]*u[1]) + clamp(u[2], p[2], p[3])
    du[2] = -x1*abs(u[2]) + max(u[1], 0.0)
    return nothing
end

function jac!(J, u, p, t)
    fill!(J, zero(eltype(J)))
    x1 = exp(-t)
    J[1, 1] = -ifelse(u[1] > 0, p[1], 0.1*p[1])
    J[1, 2] = ifelse((p[2] > u[2]) | (p[3] < u[2]), 0, 1)
    J[2, 1] = ifelse(u[1] >= 0, 1, 0)
    J[2, 2] = -x1*sign(u[2])
    return nothing
end

function paramjac!(pJ, u, p, t)
    fill!(pJ, zero(eltype(pJ)))
    c1 = p[2] > u[2]
    pJ[1, 1] = -ifelse(u[1] > 0, u[1], 0.1*u[1])
    pJ[1, 2] = ifelse(c1, 1, 0)
    pJ[1, 3] = ifelse(c1, 0, ifelse(p[3] < u[2], 1, 0))
    return nothing
end

function vjp!(out, v, u, p, t)
    x1 = exp(-t)
    out[1] = v[2]*ifelse(u[1] >= 0, 1, 0) - v[1]*ifelse(u[1] > 0, p[1], 0.1*p[1])
    out[2] = v[1]*ifelse((p[2] > u[2]) | (p[3] < u[2]), 0, 1) - v[2]*x1*sign(u[2])
    return nothing
end

function vjp_p!(out, v, u, p, t)
    c1 = p[2] > u[2]
    out[1] = -v[1]*ifelse(u[1] > 0, u[1], 0.1*u[1])
    out[2] = v[1]*ifelse(c1, 1, 0)
    out[3] = v[1]*ifelse(c1, 0, ifelse(p[3] < u[2], 1, 0))
    return nothing
end

end # module
