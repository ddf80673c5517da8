"""lutnas.Client: one method per lutnasd RPC, a deadline on every call.

Messages may be passed as protobuf messages or as dicts in protobuf's JSON
mapping (the format of models/*.json and search/spaces/*.json); results are
the generated protobuf messages. gRPC failures raise lutnas.errors classes.

A Client owns one gRPC channel and may be shared between threads (grpc
channels and stubs are thread-safe); close it, or use it as a context manager.
"""

from google.protobuf import json_format
from google.protobuf.message import Message

import grpc

from . import _stubs
from .errors import InvalidArgument, LutnasError, from_rpc_error

DEFAULT_TARGET = "127.0.0.1:50051"
TERMINAL_STATES = ("JOB_SUCCEEDED", "JOB_FAILED", "JOB_CANCELLED")


def to_message(value, cls, what="message"):
    """A cls message from a cls message or a dict in the JSON mapping."""
    if isinstance(value, cls):
        return value
    if isinstance(value, dict):
        try:
            return json_format.ParseDict(value, cls())
        except json_format.ParseError as e:
            raise InvalidArgument(grpc.StatusCode.INVALID_ARGUMENT, f"{what}: {e}") from None
    if isinstance(value, Message):
        raise InvalidArgument(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"{what}: expected {cls.DESCRIPTOR.full_name}, got {value.DESCRIPTOR.full_name}",
        )
    raise TypeError(f"{what}: expected a dict or {cls.DESCRIPTOR.full_name}, "
                    f"got {type(value).__name__}")


def to_dict(msg, defaults=True):
    """A message as a dict in protobuf's JSON mapping, field names as in the .proto.

    int64 fields come out as strings (the mapping's rule); enums as names.
    """
    return json_format.MessageToDict(
        msg, preserving_proto_field_name=True, including_default_value_fields=defaults
    )


def _read_certificates(root_certificates):
    if root_certificates is None or isinstance(root_certificates, bytes):
        return root_certificates
    with open(root_certificates, "rb") as f:  # a path
        return f.read()


class Client:
    """Client of one lutnasd.

    target: "host:port". timeout: seconds, the deadline of every unary and
    table call (watch() has its own, unbounded by default). token: sent as
    "authorization: Bearer <token>" metadata. root_certificates: PEM bytes or
    a path to a PEM file; given, the channel uses TLS (b"" for the system's
    default roots). options: grpc channel options, e.g.
    [("grpc.ssl_target_name_override", "localhost")]. interceptors: grpc
    client interceptors wrapped around the channel (logging, tracing, ...).
    """

    def __init__(self, target=DEFAULT_TARGET, timeout=30.0, token=None, root_certificates=None,
                 options=None, interceptors=()):
        self.target = target
        self.timeout = timeout
        self.pb = _stubs.load()
        options = list(options or [])
        if root_certificates is not None:
            certs = _read_certificates(root_certificates) or None
            creds = grpc.ssl_channel_credentials(root_certificates=certs)
            self._channel = grpc.secure_channel(target, creds, options)
        else:
            self._channel = grpc.insecure_channel(target, options)
        self._raw_channel = self._channel
        if interceptors:
            self._channel = grpc.intercept_channel(self._channel, *interceptors)
        self._metadata = (("authorization", "Bearer " + token),) if token else None
        g = self.pb.service_pb2_grpc
        self._hardware = g.HardwareServiceStub(self._channel)
        self._tables = g.TableServiceStub(self._channel)
        self._predict = g.PredictServiceStub(self._channel)
        self._search = g.SearchServiceStub(self._channel)
        self._candidates = g.CandidateServiceStub(self._channel)

    # ------------------------------------------------------------ plumbing
    def close(self):
        self._raw_channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def wait_ready(self, timeout=None):
        """Blocks until the channel connects; Unavailable after timeout seconds."""
        try:
            grpc.channel_ready_future(self._raw_channel).result(
                timeout=self.timeout if timeout is None else timeout)
        except grpc.FutureTimeoutError:
            raise from_rpc_error(_Status(grpc.StatusCode.UNAVAILABLE,
                                         f"{self.target} not ready")) from None

    def _timeout(self, timeout):
        return self.timeout if timeout is None else timeout

    def _unary(self, method, request, timeout=None):
        try:
            return method(request, timeout=self._timeout(timeout), metadata=self._metadata)
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None

    def _stream(self, method, request, timeout):
        """Yields a server stream's messages; closing the generator cancels the call."""
        call = method(request, timeout=timeout, metadata=self._metadata)
        try:
            for msg in call:
                yield msg
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None
        finally:
            call.cancel()  # no-op once the stream has ended

    def _msg(self, value, cls_name, module="service_pb2", what=None):
        cls = getattr(getattr(self.pb, module), cls_name)
        return to_message(value, cls, what or cls_name)

    # ------------------------------------------------------------ hardware
    def register_hardware(self, hardware, update=False, timeout=None):
        """Registers a Hardware (dict or message); update=True replaces one."""
        hw = self._msg(hardware, "Hardware", "table_pb2", "hardware")
        req = self.pb.service_pb2.RegisterHardwareRequest(hardware=hw, update=update)
        return self._unary(self._hardware.Register, req, timeout)

    def get_hardware(self, name, timeout=None):
        req = self.pb.service_pb2.GetHardwareRequest(name=name)
        return self._unary(self._hardware.Get, req, timeout)

    def list_hardware(self, timeout=None):
        """All registered hardware, as a list of Hardware."""
        req = self.pb.service_pb2.ListHardwareRequest()
        return list(self._unary(self._hardware.List, req, timeout).hardware)

    def delete_hardware(self, name, timeout=None):
        req = self.pb.service_pb2.DeleteHardwareRequest(name=name)
        self._unary(self._hardware.Delete, req, timeout)

    # -------------------------------------------------------------- tables
    def upload_table(self, info, entries, batch=500, timeout=None):
        """Uploads a table as a client stream: info first, then entry batches.

        info: TableInfo (dict or message; hardware is required). entries: an
        iterable of LatencyEntry (dicts or messages). Returns the stored
        TableInfo (with its new version). A list or tuple of entries is
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
        failure = []

        def requests():
            try:
                yield pb.service_pb2.UploadTableRequest(info=info_msg)
                chunk = []
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
            return self._tables.Upload(requests(), timeout=self._timeout(timeout),
                                       metadata=self._metadata)
        except grpc.RpcError as e:
            if failure:
                raise failure[0] from None
            raise from_rpc_error(e) from None

    def import_table(self, hardware, path=None, content=None, format="csv", timeout=None):
        """Imports a table file the daemon parses: content (bytes or str) or a
        path under the daemon's --import_dir. Returns ImportTableResponse."""
        if (path is None) == (content is None):
            raise InvalidArgument(grpc.StatusCode.INVALID_ARGUMENT,
                                  "import_table: give exactly one of path and content")
        if isinstance(content, str):
            content = content.encode()
        req = self.pb.service_pb2.ImportTableRequest(
            hardware=hardware, format=format, content=content or b"", path=path or "")
        return self._unary(self._tables.Import, req, timeout)

    def export_table(self, hardware, version=0, timeout=None):
        """(TableInfo, [LatencyEntry]) of one version (0: latest)."""
        req = self.pb.service_pb2.ExportTableRequest(hardware=hardware, version=version)
        info, entries = None, []
        for chunk in self._stream(self._tables.Export, req, self._timeout(timeout)):
            if info is None and chunk.HasField("info"):
                info = chunk.info
            entries.extend(chunk.entries)
        if info is None:
            raise LutnasError(grpc.StatusCode.DATA_LOSS,
                              f"table export of {hardware!r} sent no table info")
        return info, entries

    def list_tables(self, hardware="", timeout=None):
        """TableInfo of every version ("" : of all hardware)."""
        req = self.pb.service_pb2.ListTablesRequest(hardware=hardware)
        return list(self._unary(self._tables.List, req, timeout).tables)

    def set_correction(self, hardware, version=0, correction=None, timeout=None, **fields):
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
        return self._unary(self._tables.SetCorrection, req, timeout)

    # ---------------------------------------------------------- prediction
    def predict(self, arch, hardware=(), breakdown=False, timeout=None):
        """PredictResponse for one Architecture (dict or message)."""
        a = self._msg(arch, "Architecture", "arch_pb2", "arch")
        req = self.pb.service_pb2.PredictRequest(
            arch=a, hardware=_names(hardware), breakdown=breakdown)
        return self._unary(self._predict.Predict, req, timeout)

    def predict_batch(self, archs, hardware=(), timeout=None):
        """[PredictResponse], one per architecture, in order."""
        msgs = [self._msg(a, "Architecture", "arch_pb2", f"archs[{i}]")
                for i, a in enumerate(archs)]
        req = self.pb.service_pb2.PredictBatchRequest(archs=msgs, hardware=_names(hardware))
        return list(self._unary(self._predict.PredictBatch, req, timeout).results)

    # -------------------------------------------------------------- search
    def submit(self, spec, timeout=None):
        """Submits a SearchSpec (dict or message); returns the new Job."""
        s = self._msg(spec, "SearchSpec", what="spec")
        return self._unary(self._search.Submit, self.pb.service_pb2.SubmitRequest(spec=s), timeout)

    def get_job(self, job_id, timeout=None):
        return self._unary(self._search.Get, self.pb.service_pb2.GetJobRequest(id=job_id), timeout)

    def list_jobs(self, timeout=None):
        return list(self._unary(self._search.List, self.pb.service_pb2.ListJobsRequest(),
                                timeout).jobs)

    def watch(self, job_id, timeout=None):
        """Iterator of Job snapshots from the Watch stream until the job ends.

        timeout: deadline for the whole stream in seconds; None (the default)
        follows the job however long it runs. Stops after a terminal state even
        if the server keeps the stream open; breaking out cancels the stream.
        """
        req = self.pb.service_pb2.WatchJobRequest(id=job_id)
        states = self.pb.service_pb2.JobState
        terminal = {states.Value(s) for s in TERMINAL_STATES}
        for event in self._stream(self._search.Watch, req, timeout):
            yield event.job
            if event.job.state in terminal:
                return

    def cancel(self, job_id, timeout=None):
        return self._unary(self._search.Cancel, self.pb.service_pb2.CancelJobRequest(id=job_id),
                           timeout)

    def ask(self, job_id, count=1, timeout=None):
        """Candidates of an EXTERNAL-objective job waiting for scores."""
        req = self.pb.service_pb2.AskRequest(job_id=job_id, count=count)
        return list(self._unary(self._search.Ask, req, timeout).candidates)

    def tell(self, job_id, scores, timeout=None):
        """Tells scores {arch_hash: score}; returns how many were accepted."""
        req = self.pb.service_pb2.TellRequest(job_id=job_id, scores=dict(scores))
        return self._unary(self._search.Tell, req, timeout).accepted

    # ---------------------------------------------------------- candidates
    def _list_request(self, job_id=0, pareto_only=False, hardware="", max_latency_ms=0.0,
                      max_params=0, order_by="", descending=False, page_size=0, page_token=""):
        return self.pb.service_pb2.ListCandidatesRequest(
            job_id=job_id, pareto_only=pareto_only, hardware=hardware,
            max_latency_ms=max_latency_ms, max_params=max_params, order_by=order_by,
            descending=descending, page_size=page_size, page_token=page_token)

    def list_candidates(self, timeout=None, **filters):
        """One page: (candidates, next_page_token, total).

        Filters (ListCandidatesRequest fields): job_id, pareto_only, hardware,
        max_latency_ms, max_params, order_by ("id", "score", "params", "macs",
        "latency"), descending, page_size, page_token.
        """
        resp = self._unary(self._candidates.List, self._list_request(**filters), timeout)
        return list(resp.candidates), resp.next_page_token, resp.total

    def iter_candidates(self, timeout=None, **filters):
        """Every candidate matching the filters, following page tokens."""
        seen = set()
        token = filters.pop("page_token", "")
        while True:
            page, token, _ = self.list_candidates(timeout=timeout, page_token=token, **filters)
            yield from page
            if not token:
                return
            if token in seen:
                raise LutnasError(grpc.StatusCode.INTERNAL,
                                  f"server repeated page token {token!r}")
            seen.add(token)

    def get_candidate(self, candidate_id, timeout=None):
        req = self.pb.service_pb2.GetCandidateRequest(id=candidate_id)
        return self._unary(self._candidates.Get, req, timeout)

    def export_candidate(self, candidate_id, format="pytorch", timeout=None):
        """ExportCandidateResponse (content, filename): "pytorch" or "json"."""
        req = self.pb.service_pb2.ExportCandidateRequest(id=candidate_id, format=format)
        return self._unary(self._candidates.Export, req, timeout)


def _names(hardware):
    if isinstance(hardware, str):
        return [h for h in hardware.split(",") if h]
    return list(hardware)


class _Status:
    """A stand-in RpcError for failures detected on the client side."""

    def __init__(self, code, details):
        self._code, self._details = code, details

    def code(self):
        return self._code

    def details(self):
        return self._details
