"""Readable, typed result objects over the daemon's protobuf messages.

Every `Client` method returns one of these wrappers instead of a bare
message. A wrapper keeps the message's field names (`resp.latency_ms`,
`job.state`, `cand.latency[0].hardware`), so code written against the raw
protobuf keeps working, and adds:

- enums as Python `IntEnum`s (`job.state is JobState.JOB_SUCCEEDED`; it still
  compares equal to the generated module's `JOB_SUCCEEDED` integer), with a
  short `.label` ("succeeded");
- nested messages wrapped too, repeated fields as Python lists;
- `.proto`: the underlying message (to modify it, serialize it, or pass it
  to the generated stubs);
- `.to_dict()`: the message in protobuf's JSON mapping, field names as in
  the .proto;
- any field or method the wrapper does not define (a field added to the
  .proto later, `HasField`, `SerializeToString`, ...) is read from the
  message, converted as above.

Wrappers compare equal when their messages do (also to a bare message).
Setting a field sets it on the message.
"""

from __future__ import annotations

import enum
from typing import Any, ClassVar, Dict, List, Optional, Type, TypeVar

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

__all__ = [
    "JobState", "Algorithm", "Objective", "EntryStatus", "LatencySource", "Result",
    "Hardware", "Correction", "TableInfo", "LatencyEntry", "ImportTableResponse",
    "BlockLatency", "Prediction", "PredictResponse", "LatencyBudget", "SearchSpec",
    "Progress", "Job", "Candidate", "ExportCandidateResponse", "wrap", "unwrap",
    "TERMINAL_STATES",
]


_PREFIXES = {"JobState": "JOB_", "EntryStatus": "ENTRY_", "LatencySource": "SOURCE_"}


class _ProtoEnum(enum.IntEnum):
    """An IntEnum mirroring a .proto enum: equal to the generated integer."""

    @property
    def label(self) -> str:
        """The name without its prefix, lower case: JOB_SUCCEEDED -> "succeeded"."""
        name = self.name
        prefix = _PREFIXES.get(type(self).__name__, "")
        if prefix and name.startswith(prefix):
            name = name[len(prefix):]
        return name.lower()

    def __str__(self) -> str:
        return self.name


class JobState(_ProtoEnum):
    """lutnas.v1.JobState."""

    JOB_STATE_UNSPECIFIED = 0
    JOB_QUEUED = 1
    JOB_RUNNING = 2
    JOB_SUCCEEDED = 3
    JOB_FAILED = 4
    JOB_CANCELLED = 5

    @property
    def terminal(self) -> bool:
        """True for SUCCEEDED, FAILED and CANCELLED: the job will not change again."""
        return self in TERMINAL_STATES


class Algorithm(_ProtoEnum):
    """lutnas.v1.Algorithm (UNSPECIFIED means EVOLUTION)."""

    ALGORITHM_UNSPECIFIED = 0
    EVOLUTION = 1
    NSGA2 = 2
    RANDOM = 3


class Objective(_ProtoEnum):
    """lutnas.v1.Objective (UNSPECIFIED means ZEN)."""

    OBJECTIVE_UNSPECIFIED = 0
    ZEN = 1
    NASWOT = 2
    PARAMS = 3
    MACS = 4
    EXTERNAL = 5


class EntryStatus(_ProtoEnum):
    """lutnas.v1.EntryStatus of a latency-table row."""

    ENTRY_STATUS_UNSPECIFIED = 0
    ENTRY_MEASURED = 1
    ENTRY_FAILED = 2
    ENTRY_CPU_FALLBACK = 220  # runs, but (partly) on the device's CPU, not its NPU


class LatencySource(_ProtoEnum):
    """lutnas.v1.LatencySource: where a block's latency came from."""

    LATENCY_SOURCE_UNSPECIFIED = 0
    SOURCE_MEASURED = 1
    SOURCE_INTERPOLATED = 2
    SOURCE_ROOFLINE = 3
    SOURCE_COST_MODEL = 120  # the table's fitted per-op-class cost model alone


TERMINAL_STATES = (JobState.JOB_SUCCEEDED, JobState.JOB_FAILED, JobState.JOB_CANCELLED)

# .proto full name -> Python class, filled by the class definitions below.
_ENUMS: Dict[str, Type[_ProtoEnum]] = {
    "lutnas.v1.JobState": JobState, "lutnas.v1.Algorithm": Algorithm,
    "lutnas.v1.Objective": Objective, "lutnas.v1.EntryStatus": EntryStatus,
    "lutnas.v1.LatencySource": LatencySource,
}
_WRAPPERS: Dict[str, Type["Result"]] = {}

R = TypeVar("R", bound="Result")


def _convert(fd: FieldDescriptor, value: Any) -> Any:
    """A field's value as a wrapper reads it (enums, messages, lists)."""
    if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
        return dict(value)
    if fd.label == FieldDescriptor.LABEL_REPEATED:
        return [_convert_one(fd, v) for v in value]
    return _convert_one(fd, value)


def _convert_one(fd: FieldDescriptor, value: Any) -> Any:
    if fd.enum_type is not None:
        cls = _ENUMS.get(fd.enum_type.full_name)
        if cls is not None:
            try:
                return cls(value)
            except ValueError:  # a value added to the .proto after this client
                return value
        return value
    if fd.message_type is not None:
        return wrap(value)
    return value


def wrap(msg: Any) -> Any:
    """The wrapper of a message (the message itself when no wrapper is defined)."""
    if isinstance(msg, Result):
        return msg
    if isinstance(msg, Message):
        cls = _WRAPPERS.get(msg.DESCRIPTOR.full_name)
        if cls is not None:
            return cls(msg)
    return msg


def unwrap(value: Any) -> Any:
    """The message under a wrapper (anything else unchanged)."""
    return value.proto if isinstance(value, Result) else value


class Result:
    """Base of the wrappers: a read-through view of one protobuf message."""

    __slots__ = ("_msg",)
    _PROTO: ClassVar[str] = ""  # the message's full name

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls._PROTO:
            _WRAPPERS[cls._PROTO] = cls

    def __init__(self, msg: Any) -> None:
        if isinstance(msg, Result):
            msg = msg.proto
        if self._PROTO and msg.DESCRIPTOR.full_name != self._PROTO:
            raise TypeError(f"{type(self).__name__} wraps {self._PROTO}, "
                            f"got {msg.DESCRIPTOR.full_name}")
        object.__setattr__(self, "_msg", msg)

    @property
    def proto(self) -> Any:
        """The underlying protobuf message (the generated class)."""
        return self._msg

    def to_dict(self, defaults: bool = True) -> Dict[str, Any]:
        """The message as a dict in protobuf's JSON mapping (field names as in
        the .proto, enums as names, int64 as strings). defaults=False leaves
        out fields at their default value."""
        d: Dict[str, Any] = json_format.MessageToDict(
            self._msg, preserving_proto_field_name=True,
            including_default_value_fields=defaults)
        return d

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        msg = object.__getattribute__(self, "_msg")
        fd = msg.DESCRIPTOR.fields_by_name.get(name)
        if fd is None:
            return getattr(msg, name)  # methods, or AttributeError naming the field
        return _convert(fd, getattr(msg, name))

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._msg, name, unwrap(value))

    def __dir__(self) -> List[str]:
        return sorted(set(super().__dir__()) | set(self._msg.DESCRIPTOR.fields_by_name))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Result):
            other = other.proto
        if isinstance(other, Message):
            return bool(self._msg == other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._msg.SerializeToString(deterministic=True))

    def __repr__(self) -> str:
        fields = ", ".join(f"{fd.name}={_short(_convert(fd, v))}"
                           for fd, v in self._msg.ListFields())
        return f"{type(self).__name__}({fields})"


def _short(value: Any) -> str:
    if isinstance(value, list):
        return f"[{len(value)} items]" if len(value) > 3 else "[" + ", ".join(
            _short(v) for v in value) + "]"
    if isinstance(value, _ProtoEnum):
        return value.name
    if isinstance(value, Message):
        return f"<{value.DESCRIPTOR.name}>"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# ------------------------------------------------------------ the wrappers
# Annotations only: the values come from the message through __getattr__.


class Hardware(Result):
    """A registered device (lutnas.v1.Hardware): name, backend, precision,
    threads, published peaks (peak_gops, bandwidth_gbs), channel_alignment."""

    _PROTO = "lutnas.v1.Hardware"
    name: str
    description: str
    backend: str
    precision: str
    threads: int
    peak_gops: float
    bandwidth_gbs: float
    channel_alignment: int
    precisions: List[str]
    source: str


class Correction(Result):
    """Sum-of-blocks to end-to-end correction: e2e = scale * sum + offset_ms."""

    _PROTO = "lutnas.v1.Correction"
    scale: float
    offset_ms: float
    fitted_on: int
    mape_before: float
    mape_after: float


class TableInfo(Result):
    """One stored version of a latency table (lutnas.v1.TableInfo)."""

    _PROTO = "lutnas.v1.TableInfo"
    hardware: str
    version: int
    created_unix_ms: int
    backend: str
    precision: str
    threads: int
    tool: str
    space: str
    entries: int
    failed: int
    source: str
    correction: Correction
    reference_ms: float


class LatencyEntry(Result):
    """One table row: latency statistics of one block key (median_ms, iqr_ms,
    p10_ms, p90_ms, samples), status and error."""

    _PROTO = "lutnas.v1.LatencyEntry"
    key: str
    median_ms: float
    iqr_ms: float
    p10_ms: float
    p90_ms: float
    samples: int
    status: EntryStatus
    error: str


class ImportTableResponse(Result):
    """The stored table of an import, and foreign keys that mapped to no block."""

    _PROTO = "lutnas.v1.ImportTableResponse"
    info: TableInfo
    unmapped: List[str]


class BlockLatency(Result):
    """One block of a prediction's breakdown: where, key, latency_ms, source."""

    _PROTO = "lutnas.v1.BlockLatency"
    where: str
    key: str
    latency_ms: float
    source: LatencySource


class EstimatedKey(Result):
    """One key a prediction needed that the table lacks: key, where (every
    place it occurs; empty in predict_batch answers, which count them in
    occurrences), occurrences, latency_ms (one occurrence), source, method
    (how, in words), basis_key (the measured key it was scaled from), share
    (of the prediction's sum_ms, all occurrences)."""

    _PROTO = "lutnas.v1.EstimatedKey"
    key: str
    where: List[str]
    occurrences: int
    latency_ms: float
    source: LatencySource
    method: str
    basis_key: str
    share: float


class Prediction(Result):
    """Latency of one architecture on one hardware: latency_ms (corrected
    end-to-end), sum_ms (plain block sum), measured_fraction,
    estimated_from_spec, and blocks when a breakdown was asked for;
    estimated_keys and missing_keys name what the table lacks (what to
    measure), low_confidence says more than 20% of sum_ms is estimated."""

    _PROTO = "lutnas.v1.Prediction"
    hardware: str
    table_version: int
    latency_ms: float
    sum_ms: float
    measured_fraction: float
    estimated_from_spec: bool
    blocks: List[BlockLatency]
    estimated_keys: List[EstimatedKey]
    low_confidence: bool
    missing_keys: List[str]
    # The table's correction: applied only up to 2x the sums it was fitted
    # on (correction_out_of_range), or stored although its validation failed
    # (table_validation_failed); table_warnings says both in words (Predict).
    correction_out_of_range: bool
    table_validation_failed: bool
    table_warnings: List[str]

    def block_sum(self) -> float:
        """Sum of the breakdown's block latencies (0 without a breakdown)."""
        return float(sum(b.latency_ms for b in self._msg.blocks))


class PredictResponse(Result):
    """Costs of one architecture (params, macs, mac_bytes = memory access in
    bytes) and one Prediction per requested hardware."""

    _PROTO = "lutnas.v1.PredictResponse"
    arch_hash: str
    params: int
    macs: int
    mac_bytes: int
    predictions: List[Prediction]

    @property
    def latency_ms(self) -> float:
        """The first prediction's latency (ValueError when none was asked for)."""
        if not self._msg.predictions:
            raise ValueError("no hardware was given, so there is no latency")
        return float(self._msg.predictions[0].latency_ms)

    def on(self, hardware: str) -> Prediction:
        """The prediction for one hardware (KeyError naming the ones present)."""
        for p in self._msg.predictions:
            if p.hardware == hardware:
                return Prediction(p)
        raise KeyError(f"no prediction for {hardware!r} "
                       f"(have {', '.join(p.hardware for p in self._msg.predictions) or 'none'})")


class LatencyBudget(Result):
    """max_ms on one hardware, against a pinned table_version (0: latest)."""

    _PROTO = "lutnas.v1.LatencyBudget"
    hardware: str
    max_ms: float
    table_version: int


class SearchSpec(Result):
    """A search job's specification as the daemon stored it (defaults filled)."""

    _PROTO = "lutnas.v1.SearchSpec"
    name: str
    space: str
    space_inline: Any
    algorithm: Algorithm
    objective: Objective
    budgets: List[LatencyBudget]
    max_params: int
    max_macs: int
    population: int
    sample_size: int
    generations: int
    seed: int
    soft_constraint: bool
    soft_weight: float
    proxy_resolution: int
    proxy_batch: int
    report_hardware: List[str]
    max_runtime_s: float
    seed_architectures: List[Any]
    unconstrained: bool
    allow_spec_budgets: bool
    warnings: List[str]


class Progress(Result):
    """How far a job is: generation of generations, evaluated, feasible,
    best_score, pareto_size, elapsed_s (all of committed generations: what
    list_candidates finds); inside the generation being computed:
    generation_evaluated of generation_size, generation_eta_s and eta_s
    (seconds to its commit and to the job's end; 0 once the job ended)."""

    _PROTO = "lutnas.v1.Progress"
    generation: int
    generations: int
    evaluated: int
    feasible: int
    best_score: float
    pareto_size: int
    elapsed_s: float
    generation_evaluated: int
    generation_size: int
    generation_eta_s: float
    eta_s: float

    @property
    def fraction(self) -> float:
        """generation / generations, in 0..1 (0 when generations is unknown)."""
        g = self._msg.generations
        return float(min(1.0, self._msg.generation / g)) if g else 0.0


class Job(Result):
    """A search job: id, spec, state (JobState), error, progress, timestamps."""

    _PROTO = "lutnas.v1.Job"
    id: int
    spec: SearchSpec
    state: JobState
    error: str
    progress: Progress
    created_unix_ms: int
    updated_unix_ms: int

    @property
    def done(self) -> bool:
        """True once the job succeeded, failed or was cancelled."""
        return self._msg.state in TERMINAL_STATES


class Candidate(Result):
    """One evaluated architecture of a job: arch (an Architecture message),
    arch_hash, genotype, score (higher is better), params, macs, mac_bytes,
    latency (one Prediction per budget/report hardware), feasible, pareto."""

    _PROTO = "lutnas.v1.Candidate"
    id: int
    job_id: int
    arch_hash: str
    arch: Any
    genotype: str
    score: float
    params: int
    macs: int
    mac_bytes: int
    latency: List[Prediction]
    feasible: bool
    pareto: bool
    generation: int

    def latency_on(self, hardware: str) -> Optional[float]:
        """Predicted latency in ms on one hardware, None when not predicted."""
        for p in self._msg.latency:
            if p.hardware == hardware:
                return float(p.latency_ms)
        return None


class ExportCandidateResponse(Result):
    """A candidate exported by the daemon: content (text) and filename."""

    _PROTO = "lutnas.v1.ExportCandidateResponse"
    content: str
    filename: str
