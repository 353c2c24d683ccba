module Sir

const NSTATES = 3
const NPARAMS = 2

function f!(du, u, p, t)
    x1 = u[1] + u[2] + u[3]
    c1 = p[1]*u[1]*u[2]/x1
    c2 = p[2]*u[2]
    du[1] = -c1
    du[2] = -c2 + c1
    du[3] = c2
    return nothing
end

function jac!(J, u, p, t)
    fill!(J, zero(eltype(J)))
    x1 = u[1] + u[2] + u[3]
    c1 = 1/x1
    c2 = p[1]*u[2]*c1
    c3 = p[1]*u[1]*u[2]/x1^2
    c4 = p[1]*u[1]*c1
    J[1, 1] = -c2 + c3
    J[1, 2] = -c4 + c3
    J[1, 3] = c3
    J[2, 1] = c2 - c3
    J[2, 2] = -p[2] + c4 - c3
    J[2, 3] = -c3
    J[3, 2] = p[2]
    return nothing
end

function paramjac!(pJ, u, p, t)
    fill!(pJ, zero(eltype(pJ)))
    x1 = u[1] + u[2] + u[3]
    c1 = u[1]*u[2]/x1
    pJ[1, 1] = -c1
    pJ[2, 1] = c1
    pJ[2, 2] = -u[2]
    pJ[3, 2] = u[2]
    return nothing
end

function vjp!(out, v, u, p, t)
    x1 = u[1] + u[2] + u[3]
    c1 = 1/x1
    c2 = p[1]*u[2]*c1
    c3 = x1^(-2)
    c4 = p[1]*u[1]*u[2]*c3
    c5 = p[1]*u[1]*c1
    out[1] = v[1]*(-c2 + c4) + v[2]*(c2 - c4)
    out[2] = p[2]*v[3] + v[1]*(-c5 + c4) + v[2]*(-p[2] + c5 - c4)
    out[3] = p[1]*u[1]*u[2]*v[1]*c3 - p[1]*u[1]*u[2]*v[2]*c3
    return nothing
end

function vjp_p!(out, v, u, p, t)
    x1 = u[1] + u[2] + u[3]
    c1 = 1/x1
    out[1] = u[1]*u[2]*v[2]*c1 - u[1]*u[2]*v[1]*c1
    out[2] = u[2]*v[3] - u[2]*v[2]
    return nothing
end

end # module
