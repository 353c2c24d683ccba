module ForcedOscillator

const NSTATES = 2
const NPARAMS = 3

function f!(du, u, p, t)
    x1 = cos(t)
    du[1] = u[2]
    du[2] = p[3]*x1 - u[1]*p[1]^2 - 2*p[1]*p[2]*u[2]
    return nothing
end

function jac!(J, u, p, t)
    fill!(J, zero(eltype(J)))
    J[1, 2] = 1
    J[2, 1] = -p[1]^2
    J[2, 2] = -2*p[1]*p[2]
    return nothing
end

function paramjac!(pJ, u, p, t)
    fill!(pJ, zero(eltype(pJ)))
    x1 = cos(t)
    pJ[2, 1] = -2*p[1]*u[1] - 2*p[2]*u[2]
    pJ[2, 2] = -2*p[1]*u[2]
    pJ[2, 3] = x1
    return nothing
end

function vjp!(out, v, u, p, t)
    out[1] = -v[2]*p[1]^2
    out[2] = v[1] - 2*p[1]*p[2]*v[2]
    return nothing
end

function vjp_p!(out, v, u, p, t)
    x1 = cos(t)
    out[1] = v[2]*(-2*p[1]*u[1] - 2*p[2]*u[2])
    out[2] = -2*p[1]*u[2]*v[2]
    out[3] = v[2]*x1
    return nothing
end

end # module
