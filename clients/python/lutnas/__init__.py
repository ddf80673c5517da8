"""Python client of lutnasd, the hardware-aware neural architecture search daemon.

    import lutnas
    with lutnas.Client("127.0.0.1:50051") as c:
        r = c.predict(json.load(open("models/mobilenet_v2.json")), hardware=["host-cpu"])
        print(r.latency_ms, r.predictions[0].measured_fraction)

Results are typed wrappers (lutnas.results) that keep the protobuf field
names, give enums as Python enums (JobState, Algorithm, ...) and offer
`.proto` and `.to_dict()`. docs/python.md is the tutorial; docs/python-api.md
the reference generated from these docstrings.

The gRPC stubs are generated from proto/lutnas/v1/*.proto on first use (see
lutnas._stubs); `lutnas.proto()` returns them, and after it the generated
modules are importable as `lutnas.v1.service_pb2` and so on.
"""

from typing import Any

from .client import (DEFAULT_TARGET, CandidatePage, Client, ExportedTable, ParetoPlot, to_dict,
                     to_message)
from .errors import (AlreadyExists, DeadlineExceeded, FailedPrecondition, InvalidArgument,
                     LutnasError, NotFound, PermissionDenied, ResourceExhausted,
                     Unauthenticated, Unavailable)
from .results import (TERMINAL_STATES, Algorithm, Candidate, EntryStatus, Hardware, Job,
                      JobState, LatencySource, Objective, Prediction, PredictResponse, Progress,
                      SearchSpec, TableInfo)

__version__ = "0.1.0"

__all__ = [
    "Client", "DEFAULT_TARGET", "CandidatePage", "ExportedTable", "ParetoPlot", "to_dict",
    "to_message", "proto", "TERMINAL_STATES", "JobState", "Algorithm", "Objective",
    "EntryStatus", "LatencySource", "Hardware", "TableInfo", "Prediction", "PredictResponse",
    "SearchSpec", "Progress", "Job", "Candidate", "LutnasError", "InvalidArgument", "NotFound",
    "AlreadyExists", "FailedPrecondition", "ResourceExhausted", "Unavailable",
    "DeadlineExceeded", "Unauthenticated", "PermissionDenied",
]


def proto() -> Any:
    """The generated modules (arch_pb2, space_pb2, table_pb2, service_pb2,
    service_pb2_grpc), generating them first if needed."""
    from . import _stubs

    return _stubs.load()
