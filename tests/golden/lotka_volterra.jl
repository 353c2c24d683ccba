module LotkaVolterra

const NSTATES = 2
const NPARAMS = 4

function f!(du, u, p, t)
    du[1] = p[1]*u[1] - p[2]*u[1]*u[2]
    du[2] = -p[3]*u[2] + p[4]*u[1]*u[2]
    return nothing
end

function jac!(J, u, p, t)
    fill!(J, zero(eltype(J)))
    J[1, 1] = p[1] - p[2]*u[2]
    J[1, 2] = -p[2]*u[1]
    J[2, 1] = p[4]*u[2]
    J[2, 2] = -p[3] + p[4]*u[1]
    return nothing
end

function paramjac!(pJ, u, p, t)
    fill!(pJ, zero(eltype(pJ)))
    c1 = u[1]*u[2]
    pJ[1, 1] = u[1]
    pJ[1, 2] = -c1
    pJ[2, 3] = -u[2]
    pJ[2, 4] = c1
    return nothing
end

function vjp!(out, v, u, p, t)
    out[1] = v[1]*(p[1] - p[2]*u[2]) + p[4]*u[2]*v[2]
    out[2] = v[2]*(-p[3] + p[4]*u[1]) - p[2]*u[1]*v[1]
    return nothing
end

function vjp_p!(out, v, u, p, t)
    out[1] = u[1]*v[1]
    out[2] = -u[1]*u[2]*v[1]
    out[3] = -u[2]*v[2]
    out[4] = u[1]*u[2]*v[2]
    return nothing
end

end # module
