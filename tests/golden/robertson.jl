module Robertson

const NSTATES = 3
const NPARAMS = 3

function f!(du, u, p, t)
    c1 = p[1]*u[1]
    c2 = p[3]*u[2]*u[3]
    c3 = p[2]*u[2]^2
    du[1] = -c1 + c2
    du[2] = c1 - c3 - c2
    du[3] = c3
    return nothing
end

function jac!(J, u, p, t)
    fill!(J, zero(eltype(J)))
    c1 = p[3]*u[3]
    c2 = p[3]*u[2]
    c3 = 2*p[2]*u[2]
    J[1, 1] = -p[1]
    J[1, 2] = c1
    J[1, 3] = c2
    J[2, 1] = p[1]
    J[2, 2] = -c1 - c3
    J[2, 3] = -c2
    J[3, 2] = c3
    return nothing
end

function paramjac!(pJ, u, p, t)
    fill!(pJ, zero(eltype(pJ)))
    c1 = u[2]*u[3]
    c2 = u[2]^2
    pJ[1, 1] = -u[1]
    pJ[1, 3] = c1
    pJ[2, 1] = u[1]
    pJ[2, 2] = -c2
    pJ[2, 3] = -c1
    pJ[3, 2] = c2
    return nothing
end

function vjp!(out, v, u, p, t)
    out[1] = p[1]*v[2] - p[1]*v[1]
    out[2] = v[2]*(-p[3]*u[3] - 2*p[2]*u[2]) + p[3]*u[3]*v[1] + 2*p[2]*u[2]*v[3]
    out[3] = p[3]*u[2]*v[1] - p[3]*u[2]*v[2]
    return nothing
end

function vjp_p!(out, v, u, p, t)
    c1 = u[2]^2
    out[1] = u[1]*v[2] - u[1]*v[1]
    out[2] = v[3]*c1 - v[2]*c1
    out[3] = u[2]*u[3]*v[1] - u[2]*u[3]*v[2]
    return nothing
end

end # module
