module BouncingBallEvents

const NEVENTS = 3
const NSTATES = 2
const NPARAMS = 3
const DIRECTIONS = (-1, -1, 1)
const TERMINAL = (false, false, true)
const HAS_AFFECT = (true, false, false)

function condition_1(u, p, t)
    return u[1]
end

function condition_grad_u_1!(out, u, p, t)
    out[1] = 1
    out[2] = 0
    return nothing
end

function condition_grad_p_1!(out, u, p, t)
    out[1] = 0
    out[2] = 0
    out[3] = 0
    return nothing
end

function condition_grad_t_1(u, p, t)
    return 0
end

function affect_1!(unew, u, p, t)
    unew[1] = u[1]
    unew[2] = -p[2]*u[2]
    return nothing
end

function affect_jac_u_1!(J, u, p, t)
    fill!(J, zero(eltype(J)))
    J[1, 1] = 1
    J[2, 2] = -p[2]
    return nothing
end

function affect_jac_p_1!(pJ, u, p, t)
    fill!(pJ, zero(eltype(pJ)))
    pJ[2, 2] = -u[2]
    return nothing
end

function affect_grad_t_1!(out, u, p, t)
    out[1] = 0
    out[2] = 0
    return nothing
end

function condition_2(u, p, t)
    return u[2]
end

function condition_grad_u_2!(out, u, p, t)
    out[1] = 0
    out[2] = 1
    return nothing
end

function condition_grad_p_2!(out, u, p, t)
    out[1] = 0
    out[2] = 0
    out[3] = 0
    return nothing
end

function condition_grad_t_2(u, p, t)
    return 0
end

function condition_3(u, p, t)
    return t - p[3]
end

function condition_grad_u_3!(out, u, p, t)
    out[1] = 0
    out[2] = 0
    return nothing
end

function condition_grad_p_3!(out, u, p, t)
    out[1] = 0
    out[2] = 0
    out[3] = -1
    return nothing
end

function condition_grad_t_3(u, p, t)
    return 1
end

function conditions!(out, u, p, t)
    out[1] = condition_1(u, p, t)
    out[2] = condition_2(u, p, t)
    out[3] = condition_3(u, p, t)
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
