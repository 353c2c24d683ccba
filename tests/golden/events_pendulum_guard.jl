module PendulumGuardEvents

const NEVENTS = 1
const NSTATES = 2
const NPARAMS = 1
const DIRECTIONS = (0,)
const TERMINAL = (false,)
const HAS_AFFECT = (true,)

nan_log(x) = log(ifelse(x < zero(x), zero(x) / zero(x), x))
nan_sqrt(x) = sqrt(ifelse(x < zero(x), zero(x) / zero(x), x))

function condition_1(u, p, t)
    x1 = nan_sqrt(1.0 + u[1])
    x2 = nan_log(1.0 + t)
    return -0.5 + x1 - x2
end

function condition_grad_u_1!(out, u, p, t)
    out[1] = 1/(2*nan_sqrt(1.0 + u[1]))
    out[2] = 0
    return nothing
end

function condition_grad_p_1!(out, u, p, t)
    out[1] = 0
    return nothing
end

function condition_grad_t_1(u, p, t)
    return -1/(1.0 + t)
end

function affect_1!(unew, u, p, t)
    x3 = tanh(u[2])
    unew[1] = max(u[1], 0.1)
    unew[2] = p[1]*x3
    return nothing
end

function affect_jac_u_1!(J, u, p, t)
    fill!(J, zero(eltype(J)))
    x3 = tanh(u[2])
    J[1, 1] = ifelse(u[1] >= 0.1, 1, 0)
    J[2, 2] = p[1]*(1 - x3^2)
    return nothing
end

function affect_jac_p_1!(pJ, u, p, t)
    fill!(pJ, zero(eltype(pJ)))
    x3 = tanh(u[2])
    pJ[2, 1] = x3
    return nothing
end

function affect_grad_t_1!(out, u, p, t)
    out[1] = 0
    out[2] = 0
    return nothing
end

function conditions!(out, u, p, t)
    out[1] = condition_1(u, p, t)
    return nothing
end

function affect!(unew, u, p, t, k)
    if k == 1
        affect_1!(unew, u, p, t)
    else
        copyto!(unew, u)
    end
    return nothing
end

end # module
