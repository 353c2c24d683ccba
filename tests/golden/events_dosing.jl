module DosingEvents

const NEVENTS = 2
const NSTATES = 1
const NPARAMS = 4
const DIRECTIONS = (1, 1)
const TERMINAL = (false, false)
const HAS_AFFECT = (true, true)

function condition_1(u, p, t)
    return t - p[3]
end

function condition_grad_u_1!(out, u, p, t)
    out[1] = 0
    return nothing
end

function condition_grad_p_1!(out, u, p, t)
    out[1] = 0
    out[2] = 0
    out[3] = -1
    out[4] = 0
    return nothing
end

function condition_grad_t_1(u, p, t)
    return 1
end

function affect_1!(unew, u, p, t)
    x1 = exp(-0.1*t)
    unew[1] = u[1] + p[2]*x1
    return nothing
end

function affect_jac_u_1!(J, u, p, t)
    fill!(J, zero(eltype(J)))
    J[1, 1] = 1
    return nothing
end

function affect_jac_p_1!(pJ, u, p, t)
    fill!(pJ, zero(eltype(pJ)))
    x1 = exp(-0.1*t)
    pJ[1, 2] = x1
    return nothing
end

function affect_grad_t_1!(out, u, p, t)
    x1 = exp(-0.1*t)
    out[1] = -0.1*p[2]*x1
    return nothing
end

function condition_2(u, p, t)
    return t - p[4]
end

function condition_grad_u_2!(out, u, p, t)
    out[1] = 0
    return nothing
end

function condition_grad_p_2!(out, u, p, t)
    out[1] = 0
    out[2] = 0
    out[3] = 0
    out[4] = -1
    return nothing
end

function condition_grad_t_2(u, p, t)
    return 1
end

function affect_2!(unew, u, p, t)
    x1 = exp(-0.1*t)
    unew[1] = u[1] + p[2]*x1
    return nothing
end

function affect_jac_u_2!(J, u, p, t)
    fill!(J, zero(eltype(J)))
    J[1, 1] = 1
    return nothing
end

function affect_jac_p_2!(pJ, u, p, t)
    fill!(pJ, zero(eltype(pJ)))
    x1 = exp(-0.1*t)
    pJ[1, 2] = x1
    return nothing
end

function affect_grad_t_2!(out, u, p, t)
    x1 = exp(-0.1*t)
    out[1] = -0.1*p[2]*x1
    return nothing
end

function conditions!(out, u, p, t)
    out[1] = condition_1(u, p, t)
    out[2] = condition_2(u, p, t)
    return nothing
end

function affect!(unew, u, p, t, k)
    if k == 1
        affect_1!(unew, u, p, t)
    elseif k == 2
        affect_2!(unew, u, p, t)
    else
        copyto!(unew, u)
    end
    return nothing
end

end # module
