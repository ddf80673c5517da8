"""lutnas.Client: one method per lutnasd RPC, a deadline on every call.

Messages may be passed as protobuf messages, as result objects, or as dicts
in protobuf's JSON mapping (the format of models/*.json and
search/spaces/*.json; enum values in any case, see lutnas.messages).
Results are typed wrappers (lutnas.results) that keep the messages' field
names, give enums as Python enums and offer `.proto` and `.to_dict()`.
gRPC failures raise lutnas.errors classes.

A Client owns one gRPC channel and may be shared between threads (grpc
channels and stubs are thread-safe); close it, or use it as a context manager.
"""

from __future__ import annotations

import os
import time
import uuid
import warnings
from pathlib import Path
from typing import (Any, Callable, Dict, Iterable, Iterator, List, Mapping, NamedTuple,
                    Optional, Sequence, Tuple, Union)

import grpc

from . import _stubs
from .errors import (DeadlineExceeded, InvalidArgument, LutnasError, SubmitWarning, Unavailable,
                     from_rpc_error)
from .messages import to_dict, to_message
from .results import (TERMINAL_STATES, Candidate, ExportCandidateResponse, Hardware,
                      ImportTableResponse, Job, LatencyEntry, PredictResponse, TableInfo)

__all__ = ["Client", "DEFAULT_TARGET", "TERMINAL_STATES", "CandidatePage", "ExportedTable",
           "ParetoPlot", "to_dict", "to_message"]

DEFAULT_TARGET = "127.0.0.1:50051"
#: How long wait(), watch() and iter_candidates() wait for a daemon that went
#: away (a restart) when the client has no timeout; otherwise its timeout.
RECONNECT_WINDOW_S = 60.0
# Seconds a wait() still allows for reading the job's state after its own timeout.
STATE_READ_GRACE_S = 2.0
_RECONNECT_OPTIONS = (("grpc.initial_reconnect_backoff_ms", 200),
                      ("grpc.min_reconnect_backoff_ms", 200),
                      ("grpc.max_reconnect_backoff_ms", 2000))

#: A message, its result wrapper, or a dict in protobuf's JSON mapping.
MessageLike = Union[Mapping[str, Any], Any]
#: Hardware names: a list, or one string with comma-separated names.
HardwareNames = Union[str, Sequence[str]]


class CandidatePage(NamedTuple):
    """One page of list_candidates (unpacks as (candidates, token, total))."""

    candidates: List[Candidate]
    next_page_token: str  #: "" on the last page
    total: int  #: candidates matching the filters, over all pages


class ExportedTable(NamedTuple):
    """A table version from export_table (unpacks as (info, entries))."""

    info: TableInfo
    entries: List[LatencyEntry]


class ParetoPlot(NamedTuple):
    """What plot_pareto drew."""

    path: Path
    hardware: str
    points: List[Tuple[float, float]]  #: (latency_ms, score) per candidate drawn
    front: List[Candidate]  #: the Pareto-optimal candidates, by latency


def _read_certificates(root_certificates: Union[None, bytes, str, "os.PathLike[str]"]
                       ) -> Optional[bytes]:
    if root_certificates is None or isinstance(root_certificates, bytes):
        return root_certificates
    with open(root_certificates, "rb") as f:  # a path
        return f.read()


class Client:
    """Client of one lutnasd.

    target: "host:port". timeout: seconds, the deadline of every unary and
    table call (watch() has its own, unbounded by default); None for none.
    token: sent as "authorization: Bearer <token>" metadata.
    root_certificates: PEM bytes or a path to a PEM file; given, the channel
    uses TLS (b"" for the system's default roots). options: grpc channel
    options, e.g. [("grpc.ssl_target_name_override", "localhost")].
    interceptors: grpc client interceptors wrapped around the channel.
    """

    def __init__(self, target: str = DEFAULT_TARGET, timeout: Optional[float] = 30.0,
                 token: Optional[str] = None,
                 root_certificates: Union[None, bytes, str, "os.PathLike[str]"] = None,
                 options: Optional[Sequence[Tuple[str, Any]]] = None,
                 interceptors: Sequence[Any] = ()) -> None:
        self.target = target
        self.timeout = timeout
        #: The generated modules (arch_pb2, space_pb2, table_pb2, service_pb2, service_pb2_grpc).
        self.pb: Any = _stubs.load()
        opts = list(options or [])
        # Reconnect soon after a daemon restart (gRPC's default backoff grows
        # to 120 s), unless the caller chose otherwise.
        given = {k for k, _ in opts}
        opts += [(k, v) for k, v in _RECONNECT_OPTIONS if k not in given]
        if root_certificates is not None:
            certs = _read_certificates(root_certificates) or None
            creds = grpc.ssl_channel_credentials(root_certificates=certs)
            self._channel: Any = grpc.secure_channel(target, creds, opts)
        else:
            self._channel = grpc.insecure_channel(target, opts)
        self._raw_channel: Any = self._channel
        if interceptors:
            self._channel = grpc.intercept_channel(self._channel, *interceptors)
        self._metadata = (("authorization", "Bearer " + token),) if token else None
        g = self.pb.service_pb2_grpc
        self._hardware: Any = g.HardwareServiceStub(self._channel)
        self._tables: Any = g.TableServiceStub(self._channel)
        self._predict: Any = g.PredictServiceStub(self._channel)
        self._search: Any = g.SearchServiceStub(self._channel)
        self._candidates: Any = g.CandidateServiceStub(self._channel)

    # ------------------------------------------------------------ plumbing
    def close(self) -> None:
        """Closes the channel; calls after it fail."""
        self._raw_channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def wait_ready(self, timeout: Optional[float] = None) -> None:
        """Blocks until the channel connects; Unavailable after timeout seconds."""
        try:
            grpc.channel_ready_future(self._raw_channel).result(
                timeout=self.timeout if timeout is None else timeout)
        except grpc.FutureTimeoutError:
            raise from_rpc_error(_Status(grpc.StatusCode.UNAVAILABLE,
                                         f"{self.target} not ready")) from None

    def _timeout(self, timeout: Optional[float]) -> Optional[float]:
        return self.timeout if timeout is None else timeout

    def _unary(self, method: Callable[..., Any], request: Any,
               timeout: Optional[float] = None) -> Any:
        try:
            return method(request, timeout=self._timeout(timeout), metadata=self._metadata)
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None

    def _unary_reconnecting(self, method: Callable[..., Any], request: Any,
                            timeout: Optional[float] = None) -> Any:
        """A unary call that rides out a daemon restart: after Unavailable
        (not DeadlineExceeded) it tries again, waiting for the channel to
        connect, until its timeout (None: the reconnect window) has passed."""
        t = self._timeout(timeout)
        deadline = time.monotonic() + (t if t is not None else RECONNECT_WINDOW_S)
        delay = 0.05
        first = True
        while True:
            left = max(0.001, deadline - time.monotonic())
            try:
                return method(request, timeout=left, metadata=self._metadata,
                              wait_for_ready=not first)
            except grpc.RpcError as e:
                err = from_rpc_error(e)
                if not _connection_lost(err) or time.monotonic() + delay >= deadline:
                    raise err from None
            first = False
            time.sleep(delay)
            delay = min(1.0, delay * 2)

    def _reconnecting(self, call: Callable[[], Any], timeout: Optional[float] = None) -> Any:
        """call() again after Unavailable (not DeadlineExceeded), with a
        growing pause, until the timeout (None: the reconnect window)."""
        t = self._timeout(timeout)
        deadline = time.monotonic() + (t if t is not None else RECONNECT_WINDOW_S)
        delay = 0.05
        while True:
            try:
                return call()
            except LutnasError as e:
                if not _connection_lost(e) or time.monotonic() + delay >= deadline:
                    raise
            time.sleep(delay)
            delay = min(1.0, delay * 2)

    def _stream(self, method: Callable[..., Any], request: Any,
                timeout: Optional[float]) -> Iterator[Any]:
        """Yields a server stream's messages; closing the generator cancels the call."""
        call = method(request, timeout=timeout, metadata=self._metadata)
        try:
            for msg in call:
                yield msg
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None
        finally:
            call.cancel()  # no-op once the stream has ended

    def _msg(self, value: MessageLike, cls_name: str, module: str = "service_pb2",
             what: Optional[str] = None) -> Any:
        cls = getattr(getattr(self.pb, module), cls_name)
        return to_message(value, cls, what or cls_name)

    # ------------------------------------------------------------ hardware
    def register_hardware(self, hardware: MessageLike, update: bool = False,
                          timeout: Optional[float] = None) -> Hardware:
        """Registers a Hardware (dict or message); update=True replaces one.
        AlreadyExists when the name is taken and update is False."""
        hw = self._msg(hardware, "Hardware", "table_pb2", "hardware")
        req = self.pb.service_pb2.RegisterHardwareRequest(hardware=hw, update=update)
        return Hardware(self._unary(self._hardware.Register, req, timeout))

    def get_hardware(self, name: str, timeout: Optional[float] = None) -> Hardware:
        """One registered hardware; NotFound when unknown."""
        req = self.pb.service_pb2.GetHardwareRequest(name=name)
        return Hardware(self._unary(self._hardware.Get, req, timeout))

    def list_hardware(self, timeout: Optional[float] = None) -> List[Hardware]:
        """All registered hardware, by name."""
        req = self.pb.service_pb2.ListHardwareRequest()
        return [Hardware(h) for h in self._unary(self._hardware.List, req, timeout).hardware]

    def delete_hardware(self, name: str, timeout: Optional[float] = None) -> None:
        """Deletes a hardware (FailedPrecondition while it has tables)."""
        req = self.pb.service_pb2.DeleteHardwareRequest(name=name)
        self._unary(self._hardware.Delete, req, timeout)

    # -------------------------------------------------------------- tables
    def upload_table(self, info: MessageLike, entries: Iterable[MessageLike], batch: int = 500,
                     timeout: Optional[float] = None) -> TableInfo:
        """Uploads a table as a client stream: info first, then entry batches.

        info: TableInfo (dict or message; hardware is required). entries: an
        iterable of LatencyEntry (dicts, messages or results). Returns the
        stored TableInfo (with its new version). A list or tuple of entries is
        checked whole before anything is sent (a bad entry raises
        InvalidArgument naming it); any other iterable is streamed as it is
        consumed, and an exception raised while iterating it (or a bad entry
        in it) cancels the stream - the daemon then stores nothing - and is
        re-raised here (grpc logs it as well).
        """
        if batch < 1:
            raise ValueError("batch must be >= 1")
        pb = self.pb
        info_msg = self._msg(info, "TableInfo", "table_pb2", "info")
        entry_cls = pb.table_pb2.LatencyEntry
        if isinstance(entries, (list, tuple)):
            entries = [to_message(e, entry_cls, f"entries[{i}]") for i, e in enumerate(entries)]
        failure: List[BaseException] = []

        def requests() -> Iterator[Any]:
            try:
                yield pb.service_pb2.UploadTableRequest(info=info_msg)
                chunk: List[Any] = []
                for i, e in enumerate(entries):
                    chunk.append(to_message(e, entry_cls, f"entries[{i}]"))
                    if len(chunk) >= batch:
                        yield pb.service_pb2.UploadTableRequest(entries=chunk)
                        chunk = []
                # The daemon stores the table only once it sees `last`.
                yield pb.service_pb2.UploadTableRequest(entries=chunk, last=True)
            except Exception as e:
                failure.append(e)  # grpc cancels the call; re-raised below
                raise

        try:
            return TableInfo(self._tables.Upload(requests(), timeout=self._timeout(timeout),
                                                 metadata=self._metadata))
        except grpc.RpcError as e:
            if failure:
                raise failure[0] from None
            raise from_rpc_error(e) from None

    def import_table(self, hardware: str, path: Optional[str] = None,
                     content: Union[None, bytes, str] = None, format: str = "csv",
                     timeout: Optional[float] = None) -> ImportTableResponse:
        """Imports a table file the daemon parses: content (bytes or str) or a
        path under the daemon's --import_dir. format: "csv", "json" or "ofa"."""
        if (path is None) == (content is None):
            raise InvalidArgument(grpc.StatusCode.INVALID_ARGUMENT,
                                  "import_table: give exactly one of path and content")
        if isinstance(content, str):
            content = content.encode()
        req = self.pb.service_pb2.ImportTableRequest(
            hardware=hardware, format=format, content=content or b"", path=path or "")
        return ImportTableResponse(self._unary(self._tables.Import, req, timeout))

    def export_table(self, hardware: str, version: int = 0,
                     timeout: Optional[float] = None) -> ExportedTable:
        """(info, entries) of one table version (0: latest). The result
        unpacks as a tuple; lutnas.tablefile.write_csv takes it as it is."""
        req = self.pb.service_pb2.ExportTableRequest(hardware=hardware, version=version)
        info: Any = None
        entries: List[LatencyEntry] = []
        for chunk in self._stream(self._tables.Export, req, self._timeout(timeout)):
            if info is None and chunk.HasField("info"):
                info = chunk.info
            entries.extend(LatencyEntry(e) for e in chunk.entries)
        if info is None:
            raise LutnasError(grpc.StatusCode.DATA_LOSS,
                              f"table export of {hardware!r} sent no table info")
        return ExportedTable(TableInfo(info), entries)

    def list_tables(self, hardware: str = "", timeout: Optional[float] = None) -> List[TableInfo]:
        """TableInfo of every version, newest first ("" : of all hardware)."""
        req = self.pb.service_pb2.ListTablesRequest(hardware=hardware)
        return [TableInfo(t) for t in self._unary(self._tables.List, req, timeout).tables]

    def set_correction(self, hardware: str, version: int = 0,
                       correction: Optional[MessageLike] = None,
                       timeout: Optional[float] = None, **fields: Any) -> TableInfo:
        """Sets a table version's end-to-end correction.

        correction: a Correction (dict or message), or its fields as keywords
        (scale=, offset_ms=, fitted_on=, mape_before=, mape_after=).
        """
        if correction is None:
            correction = fields
        elif fields:
            raise TypeError("give correction or its fields, not both")
        corr = self._msg(correction, "Correction", "table_pb2", "correction")
        req = self.pb.service_pb2.SetCorrectionRequest(
            hardware=hardware, version=version, correction=corr)
        return TableInfo(self._unary(self._tables.SetCorrection, req, timeout))

    # ---------------------------------------------------------- prediction
    def predict(self, arch: MessageLike, hardware: HardwareNames = (), breakdown: bool = False,
                timeout: Optional[float] = None) -> PredictResponse:
        """Costs and per-hardware latency of one Architecture (dict or message).
        breakdown=True adds each block's latency and where it came from."""
        a = self._msg(arch, "Architecture", "arch_pb2", "arch")
        req = self.pb.service_pb2.PredictRequest(
            arch=a, hardware=_names(hardware), breakdown=breakdown)
        return PredictResponse(self._unary(self._predict.Predict, req, timeout))

    def predict_batch(self, archs: Iterable[MessageLike], hardware: HardwareNames = (),
                      timeout: Optional[float] = None) -> List[PredictResponse]:
        """One PredictResponse per architecture, in order."""
        msgs = [self._msg(a, "Architecture", "arch_pb2", f"archs[{i}]")
                for i, a in enumerate(archs)]
        req = self.pb.service_pb2.PredictBatchRequest(archs=msgs, hardware=_names(hardware))
        return [PredictResponse(r)
                for r in self._unary(self._predict.PredictBatch, req, timeout).results]

    # -------------------------------------------------------------- search
    def submit(self, spec: MessageLike, request_id: Optional[str] = None, retries: int = 0,
               timeout: Optional[float] = None) -> Job:
        """Submits a SearchSpec (dict or message); returns the new Job.

        The daemon refuses a spec with no budget and no cap unless it sets
        unconstrained=True, and (FailedPrecondition) a budget no sampled
        architecture meets. request_id: an idempotency key of your choice
        (letters, digits, ``._:-``, up to 128): submitting again with the same
        id and spec returns the job the first call created, also after a
        daemon restart. retries: resubmit up to this many times after
        DeadlineExceeded or Unavailable (a request id is made up when none
        is given, so a retry never starts a second job). Each of the job's
        spec.warnings (a budget table that measures little of the space, a
        correction beyond its fitted range) is also issued as a
        lutnas.errors.SubmitWarning.
        """
        s = self._msg(spec, "SearchSpec", what="spec")
        if retries < 0:
            raise ValueError("retries must be >= 0")
        if retries and not request_id:
            request_id = f"py-{uuid.uuid4()}"
        req = self.pb.service_pb2.SubmitRequest(spec=s, request_id=request_id or "")
        for attempt in range(retries + 1):
            try:
                job = Job(self._unary(self._search.Submit, req, timeout))
                for w in job.spec.warnings:
                    warnings.warn(f"job {job.id}: {w}", SubmitWarning, stacklevel=2)
                return job
            except Unavailable:  # DeadlineExceeded too
                if attempt == retries:
                    raise
                time.sleep(min(2.0, 0.1 * 2 ** attempt))
        raise AssertionError("unreachable")

    def get_job(self, job_id: int, timeout: Optional[float] = None) -> Job:
        """One job's current state; NotFound when unknown."""
        return Job(self._unary(self._search.Get, self.pb.service_pb2.GetJobRequest(id=job_id),
                               timeout))

    def list_jobs(self, timeout: Optional[float] = None) -> List[Job]:
        """Every job, newest first."""
        resp = self._unary(self._search.List, self.pb.service_pb2.ListJobsRequest(), timeout)
        return [Job(j) for j in resp.jobs]

    def watch(self, job_id: int, timeout: Optional[float] = None) -> Iterator[Job]:
        """Yields Job snapshots (state and progress) from the Watch stream
        until the job ends; the last one is the terminal state.

        timeout: deadline for the whole stream in seconds; None (the default)
        follows the job however long it runs (DeadlineExceeded when it runs
        out). Stops after a terminal state even if the server keeps the
        stream open; breaking out of the loop cancels the stream. A daemon
        restart after the first snapshot is ridden out: the stream is opened
        again once the daemon answers, within the client's timeout
        (RECONNECT_WINDOW_S without one); a snapshot is never repeated.
        """
        req = self.pb.service_pb2.WatchJobRequest(id=job_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        last: Optional[Tuple[Any, ...]] = None
        while True:
            left = None if deadline is None else max(0.001, deadline - time.monotonic())
            try:
                for event in self._stream(self._search.Watch, req, left):
                    job = Job(event.job)
                    seen = (event.job.state, event.job.updated_unix_ms,
                            event.job.progress.SerializeToString())
                    if seen != last:  # a reconnect repeats the current snapshot
                        last = seen
                        yield job
                    if job.state in TERMINAL_STATES:
                        return
                return
            except LutnasError as e:
                if not _connection_lost(e) or last is None:
                    raise  # never connected: a daemon that is not running fails at once
            # The daemon went away (a restart): wait for it within the
            # client's timeout (or the reconnect window), then follow again.
            window = self.timeout if self.timeout is not None else RECONNECT_WINDOW_S
            if deadline is not None:
                window = min(window, max(0.001, deadline - time.monotonic()))
            job = Job(self._unary_reconnecting(self._search.Get,
                                               self.pb.service_pb2.GetJobRequest(id=job_id),
                                               window))
            if job.state in TERMINAL_STATES:
                yield job
                return

    def wait(self, job_id: int, timeout: Optional[float] = None,
             on_progress: Optional[Callable[[Job], None]] = None) -> Job:
        """Blocks until the job ends and returns its final state (from Get,
        with its spec). timeout: seconds; DeadlineExceeded when the job is
        still running then (the job goes on). on_progress: called with every
        snapshot on the way. A daemon restart on the way is ridden out (as
        in watch())."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.001, deadline - time.monotonic())
            try:
                for job in self.watch(job_id, timeout=left):
                    if on_progress is not None:
                        on_progress(job)
            except DeadlineExceeded:
                job = self._get_job_reconnecting(job_id, deadline)
                if job.state in TERMINAL_STATES:
                    return job
                raise DeadlineExceeded(
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                    f"job {job_id} still {job.state.label} after {timeout} s") from None
            job = self._get_job_reconnecting(job_id, deadline)
            if job.state in TERMINAL_STATES:
                return job
            if deadline is not None and time.monotonic() >= deadline:
                raise DeadlineExceeded(grpc.StatusCode.DEADLINE_EXCEEDED,
                                       f"job {job_id} still {job.state.label} after {timeout} s")

    def _get_job_reconnecting(self, job_id: int, deadline: Optional[float]) -> Job:
        window = self.timeout if self.timeout is not None else RECONNECT_WINDOW_S
        if deadline is not None:
            # The state is read once the wait's deadline has passed too: a
            # 1 ms budget made this Get itself time out on a busy host, and the
            # caller got a bare "Deadline Exceeded" instead of the job's state.
            window = min(window, max(STATE_READ_GRACE_S, deadline - time.monotonic()))
        return Job(self._unary_reconnecting(
            self._search.Get, self.pb.service_pb2.GetJobRequest(id=job_id), window))

    def cancel(self, job_id: int, timeout: Optional[float] = None) -> Job:
        """Cancels a queued or running job; FailedPrecondition once it ended."""
        return Job(self._unary(self._search.Cancel,
                               self.pb.service_pb2.CancelJobRequest(id=job_id), timeout))

    def ask(self, job_id: int, count: int = 1, timeout: Optional[float] = None) -> List[Candidate]:
        """Candidates of an EXTERNAL-objective job waiting for scores."""
        req = self.pb.service_pb2.AskRequest(job_id=job_id, count=count)
        return [Candidate(c) for c in self._unary(self._search.Ask, req, timeout).candidates]

    def tell(self, job_id: int, scores: Mapping[str, float],
             timeout: Optional[float] = None) -> int:
        """Tells scores {arch_hash: score}; returns how many were accepted."""
        req = self.pb.service_pb2.TellRequest(job_id=job_id, scores=dict(scores))
        return int(self._unary(self._search.Tell, req, timeout).accepted)

    # ---------------------------------------------------------- candidates
    def list_candidates(self, *, job_id: int = 0, pareto_only: bool = False, hardware: str = "",
                        max_latency_ms: float = 0.0, max_params: int = 0, order_by: str = "id",
                        descending: bool = False, page_size: int = 0, page_token: str = "",
                        timeout: Optional[float] = None) -> CandidatePage:
        """One page of candidates: (candidates, next_page_token, total).

        job_id: 0 for every job. pareto_only: the job's current Pareto front.
        hardware: only candidates with a latency on it; with max_latency_ms
        (> 0) only those at most that fast. order_by: "id", "score", "params",
        "macs" or "latency" (needs hardware). page_size: 0 for the daemon's
        default (50), at most 1000. page_token: from the previous page.
        """
        req = self.pb.service_pb2.ListCandidatesRequest(
            job_id=job_id, pareto_only=pareto_only, hardware=hardware,
            max_latency_ms=max_latency_ms, max_params=max_params, order_by=order_by,
            descending=descending, page_size=page_size, page_token=page_token)
        resp = self._unary(self._candidates.List, req, timeout)
        return CandidatePage([Candidate(c) for c in resp.candidates], resp.next_page_token,
                             int(resp.total))

    def iter_candidates(self, *, job_id: int = 0, pareto_only: bool = False,
                        hardware: str = "", max_latency_ms: float = 0.0, max_params: int = 0,
                        order_by: str = "id", descending: bool = False, page_size: int = 0,
                        page_token: str = "",
                        timeout: Optional[float] = None) -> Iterator[Candidate]:
        """Every candidate matching the filters (as list_candidates), page
        after page; stops at the last page. A daemon restart after the first
        page is ridden out within the timeout (the page is asked again)."""
        filters: Dict[str, Any] = dict(
            job_id=job_id, pareto_only=pareto_only, hardware=hardware,
            max_latency_ms=max_latency_ms, max_params=max_params, order_by=order_by,
            descending=descending, page_size=page_size)
        seen = set()
        token = page_token
        while True:
            if token == page_token:  # the first page: a daemon that is not running fails at once
                page, token, _ = self.list_candidates(timeout=timeout, page_token=token, **filters)
            else:
                def page_at(t: str = token) -> CandidatePage:
                    return self.list_candidates(timeout=timeout, page_token=t, **filters)

                page, token, _ = self._reconnecting(page_at, timeout)
            yield from page
            if not token:
                return
            if token in seen:
                raise LutnasError(grpc.StatusCode.INTERNAL,
                                  f"server repeated page token {token!r}")
            seen.add(token)

    def get_candidate(self, candidate_id: int, timeout: Optional[float] = None) -> Candidate:
        """One candidate with its per-block latency breakdown."""
        req = self.pb.service_pb2.GetCandidateRequest(id=candidate_id)
        return Candidate(self._unary(self._candidates.Get, req, timeout))

    def export_candidate(self, candidate_id: int, format: str = "pytorch",
                         timeout: Optional[float] = None) -> ExportCandidateResponse:
        """The daemon's export (content, filename): "pytorch" (a module with
        build_model() and INPUT_SHAPE) or "json" (the Architecture). ONNX is
        made here: see export_onnx()."""
        if format == "onnx":
            raise InvalidArgument(grpc.StatusCode.INVALID_ARGUMENT,
                                  "format: 'onnx' is made client-side: use "
                                  "Client.export_onnx(candidate_id, path)")
        req = self.pb.service_pb2.ExportCandidateRequest(id=candidate_id, format=format)
        return ExportCandidateResponse(self._unary(self._candidates.Export, req, timeout))

    def export_onnx(self, candidate_id: int, path: Union[None, str, "os.PathLike[str]"] = None,
                    opset: int = 13, timeout: Optional[float] = None) -> Path:
        """Writes a candidate as ONNX (what RKNN-Toolkit2 and Ascend ATC take)
        and returns the path (default candidate_<id>.onnx). Builds the daemon's
        PyTorch export with torch here and runs torch.onnx.export; needs
        torch (TorchMissing otherwise). The input is named "input" with the
        candidate's shape (1, 3, R, R); the output "logits"."""
        from .torch_export import export_onnx, require_torch

        require_torch()  # fail before the RPC when torch is missing
        resp = self.export_candidate(candidate_id, "pytorch", timeout=timeout)
        out = Path(path) if path is not None else Path(f"candidate_{candidate_id}.onnx")
        export_onnx(resp.content, str(out), opset=opset, name=f"candidate_{candidate_id}")
        return out

    def plot_pareto(self, job_id: int, path: Union[str, "os.PathLike[str]"] = "pareto.png",
                    hardware: Optional[str] = None, title: Optional[str] = None,
                    timeout: Optional[float] = None) -> ParetoPlot:
        """Draws a job's candidates, score against predicted latency on one
        hardware (default: the first budget's), with the Pareto front and the
        budget, into path (PNG or whatever its suffix says; matplotlib)."""
        from .plot import plot_pareto

        job = self.get_job(job_id, timeout=timeout)
        cands = list(self.iter_candidates(job_id=job_id, page_size=1000, timeout=timeout))
        if not cands:
            raise LutnasError(grpc.StatusCode.FAILED_PRECONDITION,
                              f"job {job_id} has no candidates yet")
        hw = hardware or (job.spec.budgets[0].hardware if job.spec.budgets else "")
        if not hw:
            hw = next((p.hardware for c in cands for p in c.latency), "")
        drawn = [(c, c.latency_on(hw)) for c in cands]
        kept = [(c, lat) for c, lat in drawn if lat is not None]
        if not kept:
            raise LutnasError(grpc.StatusCode.FAILED_PRECONDITION,
                              f"job {job_id}: no candidate has a latency on {hw!r}")
        points = [(float(lat), float(c.score)) for c, lat in kept]
        infeasible = [i for i, (c, _) in enumerate(kept) if not c.feasible]
        budget = next((b.max_ms for b in job.spec.budgets if b.hardware == hw), None)
        if title is None:
            title = (f"job {job.id} {job.spec.name}: {job.spec.space or 'inline space'}, "
                     f"{job.spec.objective.label}")
        front = plot_pareto(points, str(path), hw, budget_ms=budget, title=title,
                            infeasible=infeasible)
        return ParetoPlot(Path(path), hw, points, [kept[i][0] for i in front])


def _connection_lost(err: LutnasError) -> bool:
    """The daemon went away (a restart): UNAVAILABLE, or CANCELLED, which a
    stopping daemon gives the calls still in flight after its grace period
    (this client never cancels a call it still waits for). Not a deadline."""
    if isinstance(err, DeadlineExceeded):
        return False
    return isinstance(err, Unavailable) or err.code == grpc.StatusCode.CANCELLED


def _names(hardware: HardwareNames) -> List[str]:
    if isinstance(hardware, str):
        return [h for h in hardware.split(",") if h]
    return list(hardware)


class _Status:
    """A stand-in RpcError for failures detected on the client side."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

