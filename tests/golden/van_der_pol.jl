module VanDerPol

const NSTATES = 2
const NPARAMS = 1

function f!(du, u, p, t)
    du[1] = u[2]
    du[2] = -u[1] + p[1]*u[2]*(1 - u[1]^2)
    return nothing
end

function jac!(J, u, p, t)
    fill!(J, zero(eltype(J)))
    J[1, 2] = 1
    J[2, 1] = -1 - 2*p[1]*u[1]*u[2]
    J[2, 2] = p[1]*(1 - u[1]^2)
    return nothing
end

function paramjac!(pJ, u, p, t)
    fill!(pJ, zero(eltype(pJ)))
    pJ[2, 1] = u[2]*(1 - u[1]^2)
    return nothing
end

function vjp!(out, v, u, p, t)
    out[1] = v[2]*(-1 - 2*p[1]*u[1]*u[2])
    out[2] = v[1] + p[1]*v[2]*(1 - u[1]^2)
    return nothing
end

function vjp_p!(out, v, u, p, t)
    out[1] = u[2]*v[2]*(1 - u[1]^2)
    return nothing
end

end # module
