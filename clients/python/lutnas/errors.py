"""Exceptions of the lutnas client: gRPC status codes mapped one to one.

Every failed call raises a LutnasError subclass carrying the gRPC `.code`
(grpc.StatusCode) and the server's `.details`. Input the client rejects
before sending (a dict that is not a valid message) raises InvalidArgument
too, so callers handle one family of errors.
"""

from typing import Any, Optional, Type

import grpc


class LutnasError(Exception):
    """Base class: a gRPC status other than OK. str() is the details text."""

    def __init__(self, code: Optional[grpc.StatusCode], details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details

    def __str__(self) -> str:
        return self.details or (self.code.name if self.code else "error")

    def __repr__(self) -> str:
        name = self.code.name if self.code else None
        return f"{type(self).__name__}(code={name}, details={self.details!r})"


class InvalidArgument(LutnasError):
    """Bad input; the details name the offending field."""


class NotFound(LutnasError):
    """Unknown id or name."""


class AlreadyExists(LutnasError):
    """The name is taken (register_hardware without update=True)."""


class FailedPrecondition(LutnasError):
    """The object is in the wrong state (e.g. cancelling a finished job)."""


class ResourceExhausted(LutnasError):
    """A daemon cap was hit (job count, evaluations, message size)."""


class Unavailable(LutnasError):
    """The daemon cannot be reached, or its database is busy: retry later."""


class DeadlineExceeded(Unavailable):
    """The call ran past its timeout (a kind of Unavailable)."""


class Unauthenticated(LutnasError):
    """Missing or wrong token."""


class PermissionDenied(Unauthenticated):
    """Authenticated, but not allowed."""


class SubmitWarning(UserWarning):
    """What Client.submit warns of (Python's warnings module), one per entry
    of the job's spec.warnings: e.g. a budget table that measures little of
    the space, so the search ranks by estimated latencies."""


_BY_CODE = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
}


def error_class(code: Any) -> Type[LutnasError]:
    """The exception class for a grpc.StatusCode (LutnasError if unmapped)."""
    return _BY_CODE.get(code, LutnasError)


_UNREACHABLE = ("failed to connect", "connection refused", "dns resolution failed",
                "name resolution", "no route to host", "connection reset", "socket closed",
                "network is unreachable")


def is_unreachable(err: LutnasError) -> bool:
    """True when no daemon answered at all (nothing listens at the address),
    as opposed to a daemon that answered UNAVAILABLE (shutting down, busy)."""
    text = (err.details or "").lower()
    return err.code == grpc.StatusCode.UNAVAILABLE and any(t in text for t in _UNREACHABLE)


def unreachable_hint(err: LutnasError, target: str) -> str:
    """The message for an Unavailable error of a call to `target`: for a
    daemon that is not there, what to check and how to start one; else the
    daemon's own words and the address."""
    if not is_unreachable(err):
        return f"{err} (server {target})"
    return (f"cannot reach lutnasd at {target}: is it running there? Start it with "
            f"`build/bin/lutnasd --listen {target} --db var/lutnas.db` (or point --server / "
            f"LUTNAS_SERVER at the running one). gRPC said: {err}")


def from_rpc_error(err: Any) -> LutnasError:
    """Converts a grpc.RpcError (a failed call) to the matching LutnasError."""
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    details = err.details() if hasattr(err, "details") else str(err)
    return error_class(code)(code, details or "")
