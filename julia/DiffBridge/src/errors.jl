# Errors DiffBridge raises on purpose, and how Python names any Julia exception.

"""
    DiffBridgeError(msg)

Raised for misuse DiffBridge detects itself: an unknown algorithm or sensitivity name, a
model key that was never loaded, a size mismatch, a pullback of a failed solve.
"""
struct DiffBridgeError <: Exception
    msg::String
end

Base.showerror(io::IO, e::DiffBridgeError) = print(io, "DiffBridgeError: ", e.msg)

# `include_string` wraps errors in the user's source (syntax, undefined names) in LoadError.
root_exception(e) = e
root_exception(e::LoadError) = root_exception(e.error)
# `Threads.@threads` (under `EnsembleThreads` and `each_member`) wraps a failed iteration's
# exception in a TaskFailedException inside a CompositeException.
root_exception(e::CompositeException) = isempty(e.exceptions) ? e : root_exception(first(e.exceptions))
root_exception(e::TaskFailedException) = root_exception(e.task.exception)

"""
    error_type_name(e) -> String

The bare type name of an exception (`"DimensionMismatch"`, `"MethodError"`), without its
module or type parameters: what `bridge.JuliaError.julia_type` shows.
"""
error_type_name(e) = String(nameof(typeof(root_exception(e))))

"""
    error_message(e) -> String

`showerror` text of an exception without a backtrace; Python shortens it further.
"""
error_message(e) = sprint(showerror, root_exception(e))
