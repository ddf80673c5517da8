"""Python client of lutnasd, the hardware-aware neural architecture search daemon.

    import lutnas
    with lutnas.Client("127.0.0.1:50051") as c:
        r = c.predict(json.load(open("models/mobilenet_v2.json")), hardware=["host-cpu"])

The gRPC stubs are generated from proto/lutnas/v1/*.proto on first use (see
lutnas._stubs); `lutnas.proto()` returns them, and after it the generated
modules are importable as `lutnas.v1.service_pb2` and so on.
"""

from .client import Client, to_dict, to_message
from .errors import (AlreadyExists, DeadlineExceeded, FailedPrecondition, InvalidArgument,
                     LutnasError, NotFound, PermissionDenied, ResourceExhausted,
                     Unauthenticated, Unavailable)

__version__ = "0.1.0"

__all__ = [
    "Client", "to_dict", "to_message", "proto", "LutnasError", "InvalidArgument", "NotFound",
    "AlreadyExists", "FailedPrecondition", "ResourceExhausted", "Unavailable",
    "DeadlineExceeded", "Unauthenticated", "PermissionDenied",
]


def proto():
    """The generated modules (arch_pb2, space_pb2, table_pb2, service_pb2,
    service_pb2_grpc), generating them first if needed."""
    from . import _stubs

    return _stubs.load()
