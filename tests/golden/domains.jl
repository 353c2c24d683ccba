module Domains

const NSTATES = 2
const NPARAMS = 1

nan_log(x) = log(ifelse(x < zero(x), zero(x) / zero(x), x))
nan_log1p(x) = log1p(ifelse(x < -one(x), zero(x) / zero(x), x))
nan_sqrt(x) = sqrt(ifelse(x < zero(x), zero(x) / zero(x), x))
nan_asin(x) = asin(ifelse(abs(x) > one(x), zero(x) / zero(x), x))
nan_acos(x) = acos(ifelse(abs(x) > one(x), zero(x) / zero(x), x))
nan_atanh(x) = atanh(ifelse(abs(x) > one(x), zero(x) / zero(x), x))
nan_pow(x, y) = ifelse((x < zero(x)) & !isinteger(y), zero(x) / zero(x), x)^y

function f!(du, u, p, t)
    x1 = nan_sqrt(u[1])
    x2 = nan_log(u[2])
    x3 = nan_log1p(u[1]*u[2])
    x4 = nan_acos(0.5*u[1])
    x5 = nan_asin(0.1*u[2])
    x6 = nan_atanh(0.2*u[1])
    x7 = sqrt(1.0 + u[2]^2)
    du[1] = x1 + x3 + nan_pow(u[1], 1.5) - p[1]*x2
    du[2] = x4 + x5 + x6 + x7
    return nothing
end

function jac!(J, u, p, t)
    fill!(J, zero(eltype(J)))
    c1 = 1/(1 + u[1]*u[2])
    c2 = u[1]^2
    c3 = u[2]^2
    J[1, 1] = 1/(2*nan_sqrt(u[1])) + 1.5*nan_pow(u[1], 0.5) + u[2]*c1
    J[1, 2] = u[1]*c1 - p[1]/u[2]
    J[2, 1] = 0.2/(1 - 0.04000000000000001*c2) - 0.5/nan_sqrt(1 - 0.25*c2)
    J[2, 2] = 0.1/nan_sqrt(1 - 0.010000000000000002*c3) + u[2]/sqrt(1.0 + c3)
    return nothing
end

function paramjac!(pJ, u, p, t)
    fill!(pJ, zero(eltype(pJ)))
    x2 = nan_log(u[2])
    pJ[1, 1] = -x2
    return nothing
end

function vjp!(out, v, u, p, t)
    c1 = 1/(1 + u[1]*u[2])
    c2 = u[1]^2
    c3 = u[2]^2
    out[1] = v[1]*(1/(2*nan_sqrt(u[1])) + 1.5*nan_pow(u[1], 0.5) + u[2]*c1) + v[2]*(0.2/(1 - 0.04000000000000001*c2) - 0.5/nan_sqrt(1 - 0.25*c2))
    out[2] = v[1]*(u[1]*c1 - p[1]/u[2]) + v[2]*(0.1/nan_sqrt(1 - 0.010000000000000002*c3) + u[2]/sqrt(1.0 + c3))
    return nothing
end

function vjp_p!(out, v, u, p, t)
    x2 = nan_log(u[2])
    out[1] = -v[1]*x2
    return nothing
end

end # module
