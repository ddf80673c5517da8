"""Malformed requests to every lutnasd RPC.

One table, one row per bad request: empty requests, oversized ones (gRPC's
64 MiB cap and the daemon's own caps), wrong types (the client's JSON mapping
refuses them before sending; bytes that are not the message go out through a
generic channel), unknown ids, NaN/inf in doubles, negative sizes, absurd
budgets, huge architectures, bad enum values. Every row names the exact
status code and a substring of the details that names the field (gRPC's own
refusals carry no field: there the row names gRPC's wording, or nothing).

Every rejected call must leave the daemon up and its stored state untouched:
the last test compares a snapshot taken before the table with one taken
after. Bad requests go through the generated stubs directly wherever the
Client would check them first.
"""

import itertools
import time
from dataclasses import dataclass
from typing import Callable, Optional, Tuple, Union

import grpc
import pytest
from google.protobuf import json_format

import lutnas
from conftest import PB, finish, hardware_with_table, spec_hardware, tiny_arch, wait_for

S, T, A = PB.service_pb2, PB.table_pb2, PB.arch_pb2
SC = grpc.StatusCode
NAN, INF = float("nan"), float("inf")
HW = "bad-npu"              # registered, one table (version 1)
HW_NO_TABLE = "bad-spec"    # registered, no table
MISSING = 987654321         # an id nothing has
MiB = 1 << 20
TIMEOUT = 60
# The daemon's default --max_message_mb; requests above it never reach a handler.
GRPC_CAP = 64 * MiB
# Bytes that are no protobuf message at all (a truncated varint tag).
GARBAGE = b"\xff\xff\xff\xff"
# 10,000 nested groups of an unknown field: past protobuf's recursion limit.
DEEP_GROUPS = b"\xa3\x06" * 10000 + b"\xa4\x06" * 10000


@dataclass
class Case:
    id: str
    rpc: str                      # "HardwareService/Register"
    call: Callable                # call(ctx) performs the request
    code: Union[SC, Tuple[SC, ...]]
    field: Optional[Union[str, Tuple[str, ...]]]  # a substring of the details (any of a tuple)


CASES = []


def case(id, rpc, code, field, call):
    CASES.append(Case(id, rpc, call, code, field))


class Ctx:
    """Stubs, a raw channel and the ids of stored things the cases refer to."""

    def __init__(self, daemon, client):
        self.daemon, self.client = daemon, client
        opts = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
        self.channel = grpc.insecure_channel(daemon.target, options=opts)
        g = PB.service_pb2_grpc
        self.hw = g.HardwareServiceStub(self.channel)
        self.tables = g.TableServiceStub(self.channel)
        self.predict = g.PredictServiceStub(self.channel)
        self.search = g.SearchServiceStub(self.channel)
        self.cands = g.CandidateServiceStub(self.channel)
        self.keys = []          # the keys of HW's table
        self.done_job = 0       # a finished PARAMS job
        self.ext_job = 0        # a running EXTERNAL job waiting for scores
        self.candidate = 0      # a stored candidate of done_job

    def raw_unary(self, method, payload):
        f = self.channel.unary_unary(f"/lutnas.v1.{method}", request_serializer=None,
                                     response_deserializer=None)
        return f(payload, timeout=TIMEOUT)

    def raw_server_stream(self, method, payload):
        f = self.channel.unary_stream(f"/lutnas.v1.{method}", request_serializer=None,
                                      response_deserializer=None)
        return list(f(payload, timeout=TIMEOUT))

    def raw_client_stream(self, method, payloads):
        f = self.channel.stream_unary(f"/lutnas.v1.{method}", request_serializer=None,
                                      response_deserializer=None)
        return f(iter(payloads), timeout=TIMEOUT)

    def entries(self, n=None, **over):
        """LatencyEntry messages of HW's keys, each valid unless `over` says otherwise."""
        keys = self.keys if n is None else self.keys[:n]
        out = []
        for i, k in enumerate(keys):
            e = dict(key=k, median_ms=0.1 * (i + 1), iqr_ms=0.01, p10_ms=0.05 * (i + 1),
                     p90_ms=0.2 * (i + 1), samples=5, status=T.ENTRY_MEASURED)
            if i == 0:
                e.update(over)
            out.append(T.LatencyEntry(**e))
        return out

    def csv(self, **over):
        rows = ["key,median_ms,iqr_ms,p10_ms,p90_ms,samples,status,error"]
        for i, k in enumerate(self.keys):
            v = dict(median_ms=0.1, iqr_ms=0, p10_ms=0.1, p90_ms=0.1, samples=5)
            if i == 0:
                v.update(over)
            rows.append(f"{k},{v['median_ms']},{v['iqr_ms']},{v['p10_ms']},{v['p90_ms']},"
                        f"{v['samples']},measured,")
        return ("\n".join(rows) + "\n").encode()


# ------------------------------------------------------------ request builders
def arch(**over):
    a = json_format.ParseDict(tiny_arch(), A.Architecture())
    for k, v in over.items():
        setattr(a, k, v)
    return a


def arch_with(block_dict):
    """tiny_arch with one more block (a dict in the JSON mapping) in stage 0."""
    d = tiny_arch()
    d["stages"][0]["blocks"].append(block_dict)
    return json_format.ParseDict(d, A.Architecture())


def arch_edit(edit):
    a = arch()
    edit(a)
    return a


def blocks_arch(n, stages=1):
    """An architecture of n conv blocks (spread over `stages` stages)."""
    blk = A.Block(conv=A.ConvBnAct(out_channels=16))
    per = n // stages
    return A.Architecture(resolution=64, head=A.Head(num_classes=10),
                          stages=[A.Stage(blocks=[blk] * per) for _ in range(stages)])


def spec(**over):
    """A SubmitRequest whose spec is valid but for `over` (a small PARAMS search)."""
    s = S.SearchSpec(space="tiny", objective=S.PARAMS, population=8, sample_size=4,
                     generations=2, seed=1)
    for k, v in over.items():
        if k == "budgets":
            s.budgets.extend(S.LatencyBudget(**b) for b in v)
        elif k == "report_hardware":
            s.report_hardware.extend(v)
        elif k == "space_inline":
            s.space_inline.SetInParent()
            s.space_inline.MergeFrom(v)
            s.space = ""
        else:
            setattr(s, k, v)
    return S.SubmitRequest(spec=s)


def budget(**over):
    b = dict(hardware=HW, max_ms=1.0)
    b.update(over)
    return [b]


_fresh = itertools.count(1)


def hardware(**over):
    """A RegisterHardwareRequest of a name not yet taken, valid but for `over`
    (so that one wrongly accepted case cannot hide another)."""
    h = json_format.ParseDict(spec_hardware(f"bad-new-{next(_fresh)}"), T.Hardware())
    for k, v in over.items():
        if k == "precisions":
            h.precisions.extend(v)
        else:
            setattr(h, k, v)
    return S.RegisterHardwareRequest(hardware=h)


def upload(c, info, *batches):
    reqs = [S.UploadTableRequest(info=info)] + [S.UploadTableRequest(entries=b) for b in batches]
    reqs[-1].last = True  # a complete stream: the daemon judges its content
    return c.tables.Upload(iter(reqs), timeout=TIMEOUT)


def info(**over):
    i = T.TableInfo(hardware=HW, tool="pytest", space="tiny")
    for k, v in over.items():
        if k == "correction":
            i.correction.CopyFrom(T.Correction(**v))
        else:
            setattr(i, k, v)
    return i


def corr(hw=HW, version=1, **c):
    c.setdefault("scale", 1.0)
    return S.SetCorrectionRequest(hardware=hw, version=version, correction=T.Correction(**c))


def lst(**kw):
    return S.ListCandidatesRequest(**kw)


def wire_arch_resolution_as_string():
    """PredictRequest{arch: {resolution: <a length-delimited "64">}}: field 2 of
    Architecture is an int32 (varint) but arrives with wire type 2."""
    inner = b"\x12\x02" + b"64"  # field 2, wire type 2, 2 bytes
    return b"\x0a" + bytes([len(inner)]) + inner


# ------------------------------------------------------------ HardwareService
R = "HardwareService/Register"
case("register-empty", R, SC.INVALID_ARGUMENT, "hardware.name",
     lambda c: c.hw.Register(S.RegisterHardwareRequest(), timeout=TIMEOUT))
case("register-bad-name", R, SC.INVALID_ARGUMENT, "hardware.name",
     lambda c: c.hw.Register(hardware(name="../../etc/passwd"), timeout=TIMEOUT))
case("register-name-too-long", R, SC.INVALID_ARGUMENT, "hardware.name",
     lambda c: c.hw.Register(hardware(name="a" * 65), timeout=TIMEOUT))
case("register-peak-nan", R, SC.INVALID_ARGUMENT, "hardware.peak_gops",
     lambda c: c.hw.Register(hardware(peak_gops=NAN), timeout=TIMEOUT))
case("register-peak-inf", R, SC.INVALID_ARGUMENT, "hardware.peak_gops",
     lambda c: c.hw.Register(hardware(peak_gops=INF), timeout=TIMEOUT))
case("register-peak-negative", R, SC.INVALID_ARGUMENT, "hardware.peak_gops",
     lambda c: c.hw.Register(hardware(peak_gops=-1.0), timeout=TIMEOUT))
case("register-bandwidth-minus-inf", R, SC.INVALID_ARGUMENT, "hardware.bandwidth_gbs",
     lambda c: c.hw.Register(hardware(bandwidth_gbs=-INF), timeout=TIMEOUT))
case("register-threads-negative", R, SC.INVALID_ARGUMENT, "threads",
     lambda c: c.hw.Register(hardware(threads=-4), timeout=TIMEOUT))
case("register-alignment-absurd", R, SC.INVALID_ARGUMENT, "channel_alignment",
     lambda c: c.hw.Register(hardware(channel_alignment=10**6), timeout=TIMEOUT))
case("register-description-oversized", R, SC.INVALID_ARGUMENT, "hardware.description",
     lambda c: c.hw.Register(hardware(description="d" * 5000), timeout=TIMEOUT))
case("register-source-oversized", R, SC.INVALID_ARGUMENT, "hardware.source",
     lambda c: c.hw.Register(hardware(source="s" * 5000), timeout=TIMEOUT))
case("register-backend-1mib", R, SC.INVALID_ARGUMENT, "hardware.backend",
     lambda c: c.hw.Register(hardware(backend="b" * MiB), timeout=TIMEOUT))
case("register-precisions-100000", R, SC.INVALID_ARGUMENT, "hardware.precisions",
     lambda c: c.hw.Register(hardware(precisions=["int8"] * 100000), timeout=TIMEOUT))
case("register-update-with-nan", R, SC.INVALID_ARGUMENT, "hardware.peak_gops",
     lambda c: c.hw.Register(S.RegisterHardwareRequest(
         hardware=T.Hardware(name=HW, peak_gops=NAN), update=True), timeout=TIMEOUT))
case("register-existing", R, SC.ALREADY_EXISTS, HW,
     lambda c: c.hw.Register(hardware(name=HW), timeout=TIMEOUT))
case("register-json-wrong-type", R, SC.INVALID_ARGUMENT, "peak_gops",
     lambda c: c.client.register_hardware(spec_hardware("bad-new", peak_gops="fast")))
case("register-json-list-for-string", R, SC.INVALID_ARGUMENT, "backend",
     lambda c: c.client.register_hardware(spec_hardware("bad-new", backend=["rknn"])))
case("register-raw-garbage", R, (SC.INTERNAL, SC.INVALID_ARGUMENT), None,
     lambda c: c.raw_unary("HardwareService/Register", GARBAGE))

R = "HardwareService/Get"
case("get-hardware-empty", R, SC.INVALID_ARGUMENT, "name",
     lambda c: c.hw.Get(S.GetHardwareRequest(), timeout=TIMEOUT))
case("get-hardware-unknown", R, SC.NOT_FOUND, "nope-hw",
     lambda c: c.hw.Get(S.GetHardwareRequest(name="nope-hw"), timeout=TIMEOUT))
case("get-hardware-raw-invalid-utf8", R, (SC.INTERNAL, SC.INVALID_ARGUMENT), None,
     lambda c: c.raw_unary("HardwareService/Get", b"\x0a\x02\xff\xfe"))
case("get-hardware-raw-garbage", R, (SC.INTERNAL, SC.INVALID_ARGUMENT), None,
     lambda c: c.raw_unary("HardwareService/Get", GARBAGE))

R = "HardwareService/List"
case("list-hardware-raw-garbage", R, (SC.INTERNAL, SC.INVALID_ARGUMENT), None,
     lambda c: c.raw_unary("HardwareService/List", GARBAGE))
case("list-hardware-raw-deeply-nested", R, (SC.INTERNAL, SC.INVALID_ARGUMENT), None,
     lambda c: c.raw_unary("HardwareService/List", DEEP_GROUPS))

R = "HardwareService/Delete"
case("delete-hardware-empty", R, SC.INVALID_ARGUMENT, "name",
     lambda c: c.hw.Delete(S.DeleteHardwareRequest(), timeout=TIMEOUT))
case("delete-hardware-unknown", R, SC.NOT_FOUND, "nope-hw",
     lambda c: c.hw.Delete(S.DeleteHardwareRequest(name="nope-hw"), timeout=TIMEOUT))
case("delete-hardware-with-tables", R, SC.FAILED_PRECONDITION, HW,
     lambda c: c.hw.Delete(S.DeleteHardwareRequest(name=HW), timeout=TIMEOUT))
case("delete-hardware-raw-garbage", R, (SC.INTERNAL, SC.INVALID_ARGUMENT), None,
     lambda c: c.raw_unary("HardwareService/Delete", GARBAGE))

# ------------------------------------------------------------ TableService
R = "TableService/Upload"
case("upload-empty-stream", R, SC.INVALID_ARGUMENT, "info",
     lambda c: c.tables.Upload(iter([]), timeout=TIMEOUT))
case("upload-empty-message", R, SC.INVALID_ARGUMENT, "info",
     lambda c: c.tables.Upload(iter([S.UploadTableRequest()]), timeout=TIMEOUT))
case("upload-no-entries", R, SC.INVALID_ARGUMENT, "entries",
     lambda c: upload(c, info()))
case("upload-hardware-empty", R, SC.INVALID_ARGUMENT, "info.hardware",
     lambda c: upload(c, info(hardware=""), c.entries()))
case("upload-hardware-unknown", R, SC.NOT_FOUND, "nope-hw",
     lambda c: upload(c, info(hardware="nope-hw"), c.entries()))
case("upload-median-nan", R, SC.INVALID_ARGUMENT, "median_ms",
     lambda c: upload(c, info(), c.entries(median_ms=NAN)))
case("upload-median-negative", R, SC.INVALID_ARGUMENT, "median_ms",
     lambda c: upload(c, info(), c.entries(median_ms=-1.0)))
case("upload-p90-inf", R, SC.INVALID_ARGUMENT, "p90_ms",
     lambda c: upload(c, info(), c.entries(p90_ms=INF)))
case("upload-samples-negative", R, SC.INVALID_ARGUMENT, "samples",
     lambda c: upload(c, info(), c.entries(samples=-5)))
case("upload-status-enum-99", R, SC.INVALID_ARGUMENT, "status",
     lambda c: upload(c, info(), c.entries(status=99)))
case("upload-bad-key", R, SC.INVALID_ARGUMENT, "key",
     lambda c: upload(c, info(), c.entries(key="conv:o16,k3")))
case("upload-duplicate-key", R, SC.INVALID_ARGUMENT, "entries[1]",
     lambda c: upload(c, info(), c.entries(1) * 2))
case("upload-correction-scale-nan", R, SC.INVALID_ARGUMENT, "info.correction.scale",
     lambda c: upload(c, info(correction=dict(scale=NAN)), c.entries()))
case("upload-reference-ms-nan", R, SC.INVALID_ARGUMENT, "info.reference_ms",
     lambda c: upload(c, info(reference_ms=NAN), c.entries()))
case("upload-threads-negative", R, SC.INVALID_ARGUMENT, "info.threads",
     lambda c: upload(c, info(threads=-5), c.entries()))
case("upload-tool-1mib", R, SC.INVALID_ARGUMENT, "info.tool",
     lambda c: upload(c, info(tool="t" * MiB), c.entries()))
case("upload-200001-entries", R, SC.RESOURCE_EXHAUSTED, "entries",
     lambda c: upload(c, info(), *([c.entries(1) * 1000] * 200 + [c.entries(1)])))
case("upload-70mib-message", R, SC.RESOURCE_EXHAUSTED, "larger than max",
     lambda c: upload(c, info(), c.entries(), [T.LatencyEntry(key="k" * (70 * MiB))]))
case("upload-raw-garbage-first", R, (SC.INTERNAL, SC.INVALID_ARGUMENT), None,
     lambda c: c.raw_client_stream("TableService/Upload", [GARBAGE]))
# A stream broken by a message that does not parse is a broken stream: the
# entries before it must not be stored as if the table were complete.
case("upload-raw-garbage-after-entries", R, (SC.INTERNAL, SC.INVALID_ARGUMENT), None,
     lambda c: c.raw_client_stream("TableService/Upload", [
         S.UploadTableRequest(info=info(), entries=c.entries()).SerializeToString(), GARBAGE]))
case("upload-json-wrong-type", R, SC.INVALID_ARGUMENT, "median_ms",
     lambda c: c.client.upload_table({"hardware": HW},
                                     [{"key": c.keys[0], "median_ms": "slow", "samples": 1}]))

R = "TableService/Import"
case("import-empty", R, SC.INVALID_ARGUMENT, "content",
     lambda c: c.tables.Import(S.ImportTableRequest(), timeout=TIMEOUT))
case("import-hardware-empty", R, SC.INVALID_ARGUMENT, "hardware",
     lambda c: c.tables.Import(S.ImportTableRequest(content=c.csv()), timeout=TIMEOUT))
case("import-hardware-unknown", R, SC.NOT_FOUND, "nope-hw",
     lambda c: c.tables.Import(S.ImportTableRequest(hardware="nope-hw", content=c.csv()),
                               timeout=TIMEOUT))
case("import-format-unknown", R, SC.INVALID_ARGUMENT, "format",
     lambda c: c.tables.Import(S.ImportTableRequest(hardware=HW, format="xml", content=c.csv()),
                               timeout=TIMEOUT))
case("import-csv-garbage", R, SC.INVALID_ARGUMENT, "line 1",
     lambda c: c.tables.Import(S.ImportTableRequest(hardware=HW, content=b"\x00\xff,,,\n1,2"),
                               timeout=TIMEOUT))
case("import-csv-median-nan", R, SC.INVALID_ARGUMENT, "median_ms",
     lambda c: c.tables.Import(S.ImportTableRequest(hardware=HW, content=c.csv(median_ms="nan")),
                               timeout=TIMEOUT))
case("import-csv-p10-inf", R, SC.INVALID_ARGUMENT, "p10_ms",
     lambda c: c.tables.Import(S.ImportTableRequest(hardware=HW, content=c.csv(p10_ms="inf")),
                               timeout=TIMEOUT))
case("import-csv-samples-negative", R, SC.INVALID_ARGUMENT, "samples",
     lambda c: c.tables.Import(S.ImportTableRequest(hardware=HW, content=c.csv(samples=-5)),
                               timeout=TIMEOUT))
case("import-json-wrong-type", R, SC.INVALID_ARGUMENT, "median_ms",
     lambda c: c.tables.Import(S.ImportTableRequest(
         hardware=HW, format="json",
         content=b'{"entries": [{"key": "conv", "median_ms": "slow"}]}'), timeout=TIMEOUT))
case("import-json-deeply-nested", R, SC.INVALID_ARGUMENT, "JSON",
     lambda c: c.tables.Import(S.ImportTableRequest(hardware=HW, format="json",
                                                    content=b"[" * 100000), timeout=TIMEOUT))
case("import-path-and-content", R, SC.INVALID_ARGUMENT, "path",
     lambda c: c.tables.Import(S.ImportTableRequest(hardware=HW, content=c.csv(), path="a.csv"),
                               timeout=TIMEOUT))
case("import-path-without-import-dir", R, SC.PERMISSION_DENIED, "path",
     lambda c: c.tables.Import(S.ImportTableRequest(hardware=HW, path="/etc/passwd"),
                               timeout=TIMEOUT))
case("import-70mib", R, SC.RESOURCE_EXHAUSTED, "larger than max",
     lambda c: c.tables.Import(S.ImportTableRequest(hardware=HW, content=b"x" * (70 * MiB)),
                               timeout=TIMEOUT))
case("import-raw-garbage", R, (SC.INTERNAL, SC.INVALID_ARGUMENT), None,
     lambda c: c.raw_unary("TableService/Import", GARBAGE))

R = "TableService/Export"
case("export-table-empty", R, SC.INVALID_ARGUMENT, "hardware",
     lambda c: list(c.tables.Export(S.ExportTableRequest(), timeout=TIMEOUT)))
case("export-table-unknown-hardware", R, SC.NOT_FOUND, "nope-hw",
     lambda c: list(c.tables.Export(S.ExportTableRequest(hardware="nope-hw"), timeout=TIMEOUT)))
case("export-table-unknown-version", R, SC.NOT_FOUND, "version 999",
     lambda c: list(c.tables.Export(S.ExportTableRequest(hardware=HW, version=999),
                                    timeout=TIMEOUT)))
case("export-table-version-negative", R, SC.INVALID_ARGUMENT, "version",
     lambda c: list(c.tables.Export(S.ExportTableRequest(hardware=HW, version=-1),
                                    timeout=TIMEOUT)))
case("export-table-no-table", R, SC.NOT_FOUND, HW_NO_TABLE,
     lambda c: list(c.tables.Export(S.ExportTableRequest(hardware=HW_NO_TABLE), timeout=TIMEOUT)))
case("export-table-raw-garbage", R, (SC.INTERNAL, SC.INVALID_ARGUMENT), None,
     lambda c: c.raw_server_stream("TableService/Export", GARBAGE))

R = "TableService/List"
case("list-tables-unknown-hardware", R, SC.NOT_FOUND, "nope-hw",
     lambda c: c.tables.List(S.ListTablesRequest(hardware="nope-hw"), timeout=TIMEOUT))
case("list-tables-raw-garbage", R, (SC.INTERNAL, SC.INVALID_ARGUMENT), None,
     lambda c: c.raw_unary("TableService/List", GARBAGE))

R = "TableService/SetCorrection"
case("correction-empty", R, SC.INVALID_ARGUMENT, ("hardware", "correction.scale"),
     lambda c: c.tables.SetCorrection(S.SetCorrectionRequest(), timeout=TIMEOUT))
case("correction-hardware-empty", R, SC.INVALID_ARGUMENT, "hardware",
     lambda c: c.tables.SetCorrection(corr(hw=""), timeout=TIMEOUT))
case("correction-scale-nan", R, SC.INVALID_ARGUMENT, "correction.scale",
     lambda c: c.tables.SetCorrection(corr(scale=NAN), timeout=TIMEOUT))
case("correction-scale-inf", R, SC.INVALID_ARGUMENT, "correction.scale",
     lambda c: c.tables.SetCorrection(corr(scale=INF), timeout=TIMEOUT))
case("correction-scale-negative", R, SC.INVALID_ARGUMENT, "correction.scale",
     lambda c: c.tables.SetCorrection(corr(scale=-2.0), timeout=TIMEOUT))
case("correction-offset-minus-inf", R, SC.INVALID_ARGUMENT, "correction.offset_ms",
     lambda c: c.tables.SetCorrection(corr(offset_ms=-INF), timeout=TIMEOUT))
case("correction-mape-nan", R, SC.INVALID_ARGUMENT, "correction.mape_before",
     lambda c: c.tables.SetCorrection(corr(mape_before=NAN), timeout=TIMEOUT))
case("correction-fitted-on-negative", R, SC.INVALID_ARGUMENT, "correction.fitted_on",
     lambda c: c.tables.SetCorrection(corr(fitted_on=-3), timeout=TIMEOUT))
case("correction-key-params-negative", R, SC.INVALID_ARGUMENT, "correction.key_ms_per_mparam",
     lambda c: c.tables.SetCorrection(corr(key_ms_per_mparam=-0.1), timeout=TIMEOUT))
case("correction-key-overhead-nan", R, SC.INVALID_ARGUMENT, "correction.key_overhead_ms",
     lambda c: c.tables.SetCorrection(corr(key_overhead_ms=NAN), timeout=TIMEOUT))
case("correction-key-overhead-below-smallest-entry", R, SC.INVALID_ARGUMENT,
     "correction.key_overhead_ms",
     lambda c: c.tables.SetCorrection(corr(key_overhead_ms=-1000.0), timeout=TIMEOUT))
case("correction-type-factor-out-of-band", R, SC.INVALID_ARGUMENT, "correction.type_factors",
     lambda c: c.tables.SetCorrection(corr(type_factors={"mbconv": 3.0}), timeout=TIMEOUT))
case("correction-type-factor-not-a-type", R, SC.INVALID_ARGUMENT, "correction.type_factors",
     lambda c: c.tables.SetCorrection(corr(type_factors={"mbconv:o16": 1.1}), timeout=TIMEOUT))
case("correction-version-zero", R, SC.INVALID_ARGUMENT, "version",
     lambda c: c.tables.SetCorrection(corr(version=0), timeout=TIMEOUT))
case("correction-version-negative", R, SC.INVALID_ARGUMENT, "version",
     lambda c: c.tables.SetCorrection(corr(version=-7), timeout=TIMEOUT))
case("correction-unknown-version", R, SC.NOT_FOUND, "version 999",
     lambda c: c.tables.SetCorrection(corr(version=999), timeout=TIMEOUT))
case("correction-unknown-hardware", R, SC.NOT_FOUND, "nope-hw",
     lambda c: c.tables.SetCorrection(corr(hw="nope-hw"), timeout=TIMEOUT))
case("correction-json-wrong-type", R, SC.INVALID_ARGUMENT, "scale",
     lambda c: c.client.set_correction(HW, 1, scale="big"))
case("correction-raw-garbage", R, (SC.INTERNAL, SC.INVALID_ARGUMENT), None,
     lambda c: c.raw_unary("TableService/SetCorrection", GARBAGE))

# ------------------------------------------------------------ PredictService
R = "PredictService/Predict"


def predict(a, hw=()):
    return lambda c: c.predict.Predict(S.PredictRequest(arch=a, hardware=list(hw)),
                                       timeout=TIMEOUT)


case("predict-empty", R, SC.INVALID_ARGUMENT, "arch.resolution",
     lambda c: c.predict.Predict(S.PredictRequest(), timeout=TIMEOUT))
case("predict-resolution-negative", R, SC.INVALID_ARGUMENT, "arch.resolution",
     predict(arch(resolution=-64)))
case("predict-resolution-absurd", R, SC.INVALID_ARGUMENT, "arch.resolution",
     predict(arch(resolution=10**9)))
case("predict-in-channels-negative", R, SC.INVALID_ARGUMENT, "arch.in_channels",
     predict(arch(in_channels=-3)))
case("predict-out-channels-negative", R, SC.INVALID_ARGUMENT, "arch.stages[0].blocks[1]",
     predict(arch_edit(lambda a: setattr(a.stages[0].blocks[1].conv, "out_channels", -16))))
case("predict-kernel-4", R, SC.INVALID_ARGUMENT, "kernel",
     predict(arch_edit(lambda a: setattr(a.stages[0].blocks[1].conv, "kernel", 4))))
case("predict-block-without-type", R, SC.INVALID_ARGUMENT, "arch.stages[0].blocks[2]",
     predict(arch_edit(lambda a: a.stages[0].blocks.add())))
case("predict-empty-stage", R, SC.INVALID_ARGUMENT, "arch.stages[1].blocks",
     predict(arch_edit(lambda a: a.stages.add())))
case("predict-num-classes-zero", R, SC.INVALID_ARGUMENT, "arch.head.num_classes",
     predict(arch_edit(lambda a: setattr(a.head, "num_classes", 0))))
case("predict-activation-enum-99", R, SC.INVALID_ARGUMENT, "arch.stages[0].blocks[0].mbconv.act",
     predict(arch_edit(lambda a: setattr(a.stages[0].blocks[0].mbconv, "act", 99))))
case("predict-head-activation-enum-42", R, SC.INVALID_ARGUMENT, "arch.head.act",
     predict(arch_edit(lambda a: setattr(a.head, "act", 42))))
case("predict-pool-kind-enum-77", R, SC.INVALID_ARGUMENT, "pool.kind",
     predict(arch_edit(lambda a: setattr(a.stages[0].blocks.add().pool, "kind", 77))))
case("predict-csp-inner-enum-9", R, SC.INVALID_ARGUMENT, "csp.inner",
     predict(arch_with({"csp": {"out_channels": 16, "inner": 9}})))
case("predict-csp-split-ratio-nan", R, SC.INVALID_ARGUMENT, "csp.split_ratio",
     predict(arch_with({"csp": {"out_channels": 16, "split_ratio": "NaN"}})))
case("predict-csp-split-ratio-inf", R, SC.INVALID_ARGUMENT, "csp.split_ratio",
     predict(arch_with({"csp": {"out_channels": 16, "split_ratio": "Infinity"}})))
case("predict-100000-blocks", R, SC.INVALID_ARGUMENT, "arch.stages",
     lambda c: predict(blocks_arch(100000))(c))
case("predict-100000-stages", R, SC.INVALID_ARGUMENT, "arch.stages",
     lambda c: predict(blocks_arch(100000, stages=100000))(c))
case("predict-5mib-architecture", R, SC.INVALID_ARGUMENT, "arch: larger than",
     lambda c: predict(arch(name="n" * (5 * MiB)))(c))
case("predict-70mib", R, SC.RESOURCE_EXHAUSTED, "larger than max",
     lambda c: predict(arch(name="n" * (70 * MiB)))(c))
case("predict-17-hardware", R, SC.INVALID_ARGUMENT, "hardware",
     predict(arch(), [HW] * 17))
case("predict-unknown-hardware", R, SC.NOT_FOUND, "hardware[1]",
     predict(arch(), [HW, "nope-hw"]))
case("predict-json-wrong-type", R, SC.INVALID_ARGUMENT, "resolution",
     lambda c: c.client.predict(dict(tiny_arch(), resolution="big")))
case("predict-json-bad-enum", R, SC.INVALID_ARGUMENT, "act",
     lambda c: c.client.predict(dict(tiny_arch(), head={"num_classes": 10, "act": "SWISHY"})))
case("predict-wire-type-mismatch", R, SC.INVALID_ARGUMENT, "arch.resolution",
     lambda c: c.raw_unary("PredictService/Predict", wire_arch_resolution_as_string()))
case("predict-raw-deeply-nested", R, (SC.INTERNAL, SC.INVALID_ARGUMENT), None,
     lambda c: c.raw_unary("PredictService/Predict", b"\x0a\x80\x02" + b"\xa3\x06" * 128))
case("predict-raw-deeply-nested-groups", R, (SC.INTERNAL, SC.INVALID_ARGUMENT), None,
     lambda c: c.raw_unary("PredictService/Predict", DEEP_GROUPS))
case("predict-raw-garbage", R, (SC.INTERNAL, SC.INVALID_ARGUMENT), None,
     lambda c: c.raw_unary("PredictService/Predict", GARBAGE))

R = "PredictService/PredictBatch"


def batch(archs, hw=()):
    return lambda c: c.predict.PredictBatch(
        S.PredictBatchRequest(archs=archs, hardware=list(hw)), timeout=TIMEOUT)


case("predict-batch-empty", R, SC.INVALID_ARGUMENT, "archs",
     lambda c: c.predict.PredictBatch(S.PredictBatchRequest(), timeout=TIMEOUT))
case("predict-batch-1001", R, SC.INVALID_ARGUMENT, "archs",
     lambda c: batch([arch()] * 1001)(c))
case("predict-batch-second-empty", R, SC.INVALID_ARGUMENT, "archs[1].resolution",
     batch([arch(), A.Architecture()]))
case("predict-batch-second-100000-blocks", R, SC.INVALID_ARGUMENT, "archs[1].stages",
     lambda c: batch([arch(), blocks_arch(100000)])(c))
case("predict-batch-split-ratio-inf", R, SC.INVALID_ARGUMENT, "archs[0].stages[0].blocks[2]",
     batch([arch_with({"csp": {"out_channels": 16, "split_ratio": "-Infinity"}})]))
case("predict-batch-17-hardware", R, SC.INVALID_ARGUMENT, "hardware",
     batch([arch()], [HW] * 17))
case("predict-batch-unknown-hardware", R, SC.NOT_FOUND, "hardware[0]",
     batch([arch()], ["nope-hw"]))
case("predict-batch-json-wrong-type", R, SC.INVALID_ARGUMENT, "archs[1]",
     lambda c: c.client.predict_batch([tiny_arch(), dict(tiny_arch(), stages="many")]))
case("predict-batch-raw-garbage", R, (SC.INTERNAL, SC.INVALID_ARGUMENT), None,
     lambda c: c.raw_unary("PredictService/PredictBatch", GARBAGE))

# ------------------------------------------------------------ FastPredictService (issue 17)
R = "FastPredictService/DescribeEncoding"


def fast(c):
    return PB.service_pb2_grpc.FastPredictServiceStub(c.channel)


case("describe-encoding-no-space", R, SC.INVALID_ARGUMENT, "space",
     lambda c: fast(c).DescribeEncoding(S.EncodingRequest(), timeout=TIMEOUT))
case("describe-encoding-unknown-space", R, SC.NOT_FOUND, "space: unknown space 'nope'",
     lambda c: fast(c).DescribeEncoding(S.EncodingRequest(space="nope"), timeout=TIMEOUT))
case("describe-encoding-path-traversal", R, SC.NOT_FOUND, "space",
     lambda c: fast(c).DescribeEncoding(S.EncodingRequest(space="../../etc/passwd"), timeout=TIMEOUT))
case("describe-encoding-raw-garbage", R, (SC.INTERNAL, SC.INVALID_ARGUMENT), None,
     lambda c: c.raw_unary("FastPredictService/DescribeEncoding", GARBAGE))
R = "FastPredictService/PredictEncoded"
TINY_ROW = 25  # bytes per tiny-space row


def encoded(*reqs):
    return lambda c: list(fast(c).PredictEncoded(iter(reqs), timeout=TIMEOUT))


case("encoded-no-space", R, SC.INVALID_ARGUMENT, "space",
     encoded(S.PredictEncodedRequest(hardware=[HW], choices=b"\0" * TINY_ROW)))
case("encoded-unknown-space", R, SC.NOT_FOUND, "space",
     encoded(S.PredictEncodedRequest(space="nope", hardware=[HW], choices=b"\0" * TINY_ROW)))
case("encoded-unknown-hardware", R, SC.NOT_FOUND, "hardware[1]",
     encoded(S.PredictEncodedRequest(space="tiny", hardware=[HW, "nope-hw"], choices=b"\0" * TINY_ROW)))
case("encoded-17-hardware", R, SC.INVALID_ARGUMENT, "hardware",
     encoded(S.PredictEncodedRequest(space="tiny", hardware=[HW] * 17, choices=b"\0" * TINY_ROW)))
case("encoded-no-hardware-no-cost", R, SC.INVALID_ARGUMENT, "hardware",
     encoded(S.PredictEncodedRequest(space="tiny", choices=b"\0" * TINY_ROW)))
case("encoded-partial-row", R, SC.INVALID_ARGUMENT, "choices: 26 bytes",
     encoded(S.PredictEncodedRequest(space="tiny", hardware=[HW], choices=b"\0" * (TINY_ROW + 1))))
case("encoded-index-out-of-range", R, SC.INVALID_ARGUMENT, "choices: row 1: stages[0].width: index 255",
     encoded(S.PredictEncodedRequest(space="tiny", hardware=[HW],
                                     choices=b"\0" * TINY_ROW + b"\0\xff" + b"\0" * (TINY_ROW - 2))))
case("encoded-later-message-other-space", R, SC.INVALID_ARGUMENT, "space",
     encoded(S.PredictEncodedRequest(space="tiny", hardware=[HW], choices=b"\0" * TINY_ROW),
             S.PredictEncodedRequest(space="edge", choices=b"\0" * TINY_ROW)))
case("encoded-raw-garbage", R, (SC.INTERNAL, SC.INVALID_ARGUMENT), None,
     lambda c: list(c.channel.stream_stream("/lutnas.v1.FastPredictService/PredictEncoded",
                                            request_serializer=None, response_deserializer=None)(
         iter([GARBAGE]), timeout=TIMEOUT)))

# ------------------------------------------------------------ SearchService
R = "SearchService/Submit"


def submit(req):
    return lambda c: c.search.Submit(req, timeout=TIMEOUT)


case("submit-empty", R, SC.INVALID_ARGUMENT, "spec.space",
     lambda c: c.search.Submit(S.SubmitRequest(), timeout=TIMEOUT))
case("submit-algorithm-enum-99", R, SC.INVALID_ARGUMENT, "spec.algorithm", submit(spec(algorithm=99)))
case("submit-objective-enum-99", R, SC.INVALID_ARGUMENT, "spec.objective", submit(spec(objective=99)))
case("submit-population-negative", R, SC.INVALID_ARGUMENT, "spec.population",
     submit(spec(population=-5)))
case("submit-population-1", R, SC.INVALID_ARGUMENT, "spec.population", submit(spec(population=1)))
case("submit-population-1e9", R, SC.INVALID_ARGUMENT, "spec.population",
     submit(spec(population=10**9)))
case("submit-generations-negative", R, SC.INVALID_ARGUMENT, "spec.generations",
     submit(spec(generations=-1)))
case("submit-generations-1e9", R, SC.INVALID_ARGUMENT, "spec.generations",
     submit(spec(generations=10**9)))
case("submit-evaluations-over-cap", R, SC.INVALID_ARGUMENT, "generations",
     submit(spec(population=5000, sample_size=25, generations=10000)))
case("submit-sample-size-negative", R, SC.INVALID_ARGUMENT, "spec.sample_size",
     submit(spec(sample_size=-1)))
case("submit-sample-size-over-population", R, SC.INVALID_ARGUMENT, "spec.sample_size",
     submit(spec(sample_size=10**9)))
case("submit-max-params-negative", R, SC.INVALID_ARGUMENT, "spec.max_params",
     submit(spec(max_params=-1)))
case("submit-max-macs-negative", R, SC.INVALID_ARGUMENT, "spec.max_macs",
     submit(spec(max_macs=-10**18)))
case("submit-budget-max-ms-nan", R, SC.INVALID_ARGUMENT, "spec.budgets[0].max_ms",
     submit(spec(budgets=budget(max_ms=NAN))))
case("submit-budget-max-ms-inf", R, SC.INVALID_ARGUMENT, "spec.budgets[0].max_ms",
     submit(spec(budgets=budget(max_ms=INF))))
case("submit-budget-max-ms-zero", R, SC.INVALID_ARGUMENT, "spec.budgets[0].max_ms",
     submit(spec(budgets=budget(max_ms=0.0))))
case("submit-budget-max-ms-negative", R, SC.INVALID_ARGUMENT, "spec.budgets[0].max_ms",
     submit(spec(budgets=budget(max_ms=-1.0))))
case("submit-budget-unknown-hardware", R, SC.NOT_FOUND, "spec.budgets[0].hardware",
     submit(spec(budgets=budget(hardware="nope-hw"))))
case("submit-budget-unknown-table-version", R, SC.NOT_FOUND, "spec.budgets[0].table_version",
     submit(spec(budgets=budget(table_version=99))))
case("submit-budget-table-version-negative", R, SC.INVALID_ARGUMENT,
     "spec.budgets[0].table_version", submit(spec(budgets=budget(table_version=-1))))
case("submit-budget-hardware-without-table", R, SC.FAILED_PRECONDITION, "spec.budgets[0].hardware",
     submit(spec(budgets=budget(hardware=HW_NO_TABLE))))
case("submit-9-budgets", R, SC.INVALID_ARGUMENT, "spec.budgets", submit(spec(budgets=budget() * 9)))
case("submit-100-report-hardware", R, SC.INVALID_ARGUMENT, "spec.report_hardware",
     submit(spec(report_hardware=[HW] * 100)))
case("submit-unknown-report-hardware", R, SC.NOT_FOUND, "spec.report_hardware[0]",
     submit(spec(report_hardware=["nope-hw"])))
case("submit-soft-weight-nan", R, SC.INVALID_ARGUMENT, "spec.soft_weight",
     submit(spec(soft_weight=NAN)))
case("submit-soft-weight-minus-inf", R, SC.INVALID_ARGUMENT, "spec.soft_weight",
     submit(spec(soft_weight=-INF)))
case("submit-soft-without-budget", R, SC.INVALID_ARGUMENT, "spec.soft_constraint",
     submit(spec(soft_constraint=True)))
case("submit-max-runtime-nan", R, SC.INVALID_ARGUMENT, "spec.max_runtime_s",
     submit(spec(max_runtime_s=NAN)))
case("submit-max-runtime-inf", R, SC.INVALID_ARGUMENT, "spec.max_runtime_s",
     submit(spec(max_runtime_s=INF)))
case("submit-max-runtime-negative", R, SC.INVALID_ARGUMENT, "spec.max_runtime_s",
     submit(spec(max_runtime_s=-1.0)))
case("submit-proxy-resolution-absurd", R, SC.INVALID_ARGUMENT, "spec.proxy_resolution",
     submit(spec(proxy_resolution=10**6)))
case("submit-proxy-batch-negative", R, SC.INVALID_ARGUMENT, "spec.proxy_batch",
     submit(spec(proxy_batch=-1)))
case("submit-name-oversized", R, SC.INVALID_ARGUMENT, "spec.name", submit(spec(name="n" * 201)))
case("submit-unknown-space", R, SC.NOT_FOUND, "spec.space", submit(spec(space="nope")))
case("submit-space-path-traversal", R, SC.NOT_FOUND, "spec.space",
     submit(spec(space="../../etc/passwd")))
case("submit-space-and-inline", R, SC.INVALID_ARGUMENT, "spec.space",
     submit(S.SubmitRequest(spec=S.SearchSpec(space="tiny", space_inline=PB.space_pb2.SearchSpace()))))
case("submit-inline-empty", R, SC.INVALID_ARGUMENT, "spec.space_inline",
     submit(spec(space_inline=PB.space_pb2.SearchSpace())))
case("submit-inline-block-type-enum-99", R, SC.INVALID_ARGUMENT, "spec.space_inline",
     lambda c: submit(spec(space_inline=inline_space(block_types=[99])))(c))
case("submit-inline-depth-1e9", R, SC.INVALID_ARGUMENT, "spec.space_inline",
     lambda c: submit(spec(space_inline=inline_space(depth={"values": [10**9]})))(c))
case("submit-json-wrong-type", R, SC.INVALID_ARGUMENT, "population",
     lambda c: c.client.submit({"space": "tiny", "population": "many"}))
case("submit-json-bad-enum", R, SC.INVALID_ARGUMENT, "algorithm",
     lambda c: c.client.submit({"space": "tiny", "algorithm": "GRADIENT_DESCENT"}))
case("submit-json-object-for-double", R, SC.INVALID_ARGUMENT, "max_ms",
     lambda c: c.client.submit({"space": "tiny", "budgets": [{"hardware": HW, "max_ms": {}}]}))
case("submit-raw-garbage", R, (SC.INTERNAL, SC.INVALID_ARGUMENT), None,
     lambda c: c.raw_unary("SearchService/Submit", GARBAGE))


def inline_space(**stage_over):
    """The tiny space as an inline SearchSpace, its first stage changed."""
    from conftest import load_json
    d = load_json("search/spaces/tiny.json")
    st = d["stages"][0]
    st.update({k: v for k, v in stage_over.items() if k != "block_types"})
    space = json_format.ParseDict(d, PB.space_pb2.SearchSpace())
    if "block_types" in stage_over:
        del space.stages[0].block_types[:]
        space.stages[0].block_types.extend(stage_over["block_types"])
    return space


R = "SearchService/Get"
case("get-job-empty", R, SC.INVALID_ARGUMENT, "id",
     lambda c: c.search.Get(S.GetJobRequest(), timeout=TIMEOUT))
case("get-job-negative", R, SC.INVALID_ARGUMENT, "id",
     lambda c: c.search.Get(S.GetJobRequest(id=-1), timeout=TIMEOUT))
case("get-job-unknown", R, SC.NOT_FOUND, f"job {MISSING}",
     lambda c: c.search.Get(S.GetJobRequest(id=MISSING), timeout=TIMEOUT))
case("get-job-raw-garbage", R, (SC.INTERNAL, SC.INVALID_ARGUMENT), None,
     lambda c: c.raw_unary("SearchService/Get", GARBAGE))

R = "SearchService/List"
case("list-jobs-raw-garbage", R, (SC.INTERNAL, SC.INVALID_ARGUMENT), None,
     lambda c: c.raw_unary("SearchService/List", GARBAGE))
case("list-jobs-raw-deeply-nested", R, (SC.INTERNAL, SC.INVALID_ARGUMENT), None,
     lambda c: c.raw_unary("SearchService/List", DEEP_GROUPS))

R = "SearchService/Watch"
case("watch-empty", R, SC.INVALID_ARGUMENT, "id",
     lambda c: list(c.search.Watch(S.WatchJobRequest(), timeout=TIMEOUT)))
case("watch-negative", R, SC.INVALID_ARGUMENT, "id",
     lambda c: list(c.search.Watch(S.WatchJobRequest(id=-5), timeout=TIMEOUT)))
case("watch-unknown", R, SC.NOT_FOUND, f"job {MISSING}",
     lambda c: list(c.search.Watch(S.WatchJobRequest(id=MISSING), timeout=TIMEOUT)))
case("watch-raw-garbage", R, (SC.INTERNAL, SC.INVALID_ARGUMENT), None,
     lambda c: c.raw_server_stream("SearchService/Watch", GARBAGE))

R = "SearchService/Cancel"
case("cancel-empty", R, SC.INVALID_ARGUMENT, "id",
     lambda c: c.search.Cancel(S.CancelJobRequest(), timeout=TIMEOUT))
case("cancel-unknown", R, SC.NOT_FOUND, f"job {MISSING}",
     lambda c: c.search.Cancel(S.CancelJobRequest(id=MISSING), timeout=TIMEOUT))
case("cancel-finished", R, SC.FAILED_PRECONDITION, "already ended",
     lambda c: c.search.Cancel(S.CancelJobRequest(id=c.done_job), timeout=TIMEOUT))
case("cancel-raw-garbage", R, (SC.INTERNAL, SC.INVALID_ARGUMENT), None,
     lambda c: c.raw_unary("SearchService/Cancel", GARBAGE))

R = "SearchService/Ask"
case("ask-empty", R, SC.INVALID_ARGUMENT, ("job_id", "count"),
     lambda c: c.search.Ask(S.AskRequest(), timeout=TIMEOUT))
case("ask-job-id-zero", R, SC.INVALID_ARGUMENT, "job_id",
     lambda c: c.search.Ask(S.AskRequest(count=1), timeout=TIMEOUT))
case("ask-count-negative", R, SC.INVALID_ARGUMENT, "count",
     lambda c: c.search.Ask(S.AskRequest(job_id=c.ext_job, count=-1), timeout=TIMEOUT))
case("ask-count-1e9", R, SC.INVALID_ARGUMENT, "count",
     lambda c: c.search.Ask(S.AskRequest(job_id=c.ext_job, count=10**9), timeout=TIMEOUT))
case("ask-unknown-job", R, SC.NOT_FOUND, f"job {MISSING}",
     lambda c: c.search.Ask(S.AskRequest(job_id=MISSING, count=1), timeout=TIMEOUT))
case("ask-not-external", R, SC.FAILED_PRECONDITION, "EXTERNAL",
     lambda c: c.search.Ask(S.AskRequest(job_id=c.done_job, count=1), timeout=TIMEOUT))
case("ask-raw-garbage", R, (SC.INTERNAL, SC.INVALID_ARGUMENT), None,
     lambda c: c.raw_unary("SearchService/Ask", GARBAGE))

R = "SearchService/Tell"
case("tell-empty", R, SC.INVALID_ARGUMENT, ("job_id", "scores"),
     lambda c: c.search.Tell(S.TellRequest(), timeout=TIMEOUT))
case("tell-job-id-zero", R, SC.INVALID_ARGUMENT, "job_id",
     lambda c: c.search.Tell(S.TellRequest(scores={"abc": 1.0}), timeout=TIMEOUT))
case("tell-score-nan", R, SC.INVALID_ARGUMENT, "scores[",
     lambda c: c.search.Tell(S.TellRequest(job_id=c.ext_job, scores={"abc": NAN}),
                             timeout=TIMEOUT))
case("tell-score-inf", R, SC.INVALID_ARGUMENT, "scores[",
     lambda c: c.search.Tell(S.TellRequest(job_id=c.ext_job, scores={"abc": INF}),
                             timeout=TIMEOUT))
case("tell-unknown-arch-hash", R, SC.NOT_FOUND, "scores[0123456789abcdef]",
     lambda c: c.search.Tell(S.TellRequest(job_id=c.ext_job, scores={"0123456789abcdef": 1.0}),
                             timeout=TIMEOUT))
case("tell-unknown-job", R, SC.NOT_FOUND, f"job {MISSING}",
     lambda c: c.search.Tell(S.TellRequest(job_id=MISSING, scores={"abc": 1.0}),
                             timeout=TIMEOUT))
case("tell-finished-job", R, SC.FAILED_PRECONDITION, "not running",
     lambda c: c.search.Tell(S.TellRequest(job_id=c.done_job, scores={"abc": 1.0}),
                             timeout=TIMEOUT))
case("tell-raw-garbage", R, (SC.INTERNAL, SC.INVALID_ARGUMENT), None,
     lambda c: c.raw_unary("SearchService/Tell", GARBAGE))

# ------------------------------------------------------------ CandidateService
R = "CandidateService/List"


def clist(**kw):
    return lambda c: c.cands.List(S.ListCandidatesRequest(**kw), timeout=TIMEOUT)


case("list-candidates-page-size-negative", R, SC.INVALID_ARGUMENT, "page_size", clist(page_size=-1))
case("list-candidates-page-size-1e9", R, SC.INVALID_ARGUMENT, "page_size", clist(page_size=10**9))
case("list-candidates-job-id-negative", R, SC.INVALID_ARGUMENT, "job_id", clist(job_id=-1))
case("list-candidates-unknown-job", R, SC.NOT_FOUND, f"job {MISSING}", clist(job_id=MISSING))
case("list-candidates-max-params-negative", R, SC.INVALID_ARGUMENT, "max_params",
     clist(max_params=-1))
case("list-candidates-max-latency-nan", R, SC.INVALID_ARGUMENT, "max_latency_ms",
     clist(hardware=HW, max_latency_ms=NAN))
case("list-candidates-max-latency-minus-inf", R, SC.INVALID_ARGUMENT, "max_latency_ms",
     clist(hardware=HW, max_latency_ms=-INF))  # (+inf is a valid "no bound")
case("list-candidates-max-latency-negative", R, SC.INVALID_ARGUMENT, "max_latency_ms",
     clist(hardware=HW, max_latency_ms=-1.0))
case("list-candidates-max-latency-without-hardware", R, SC.INVALID_ARGUMENT, "hardware",
     clist(max_latency_ms=NAN))
case("list-candidates-unknown-hardware", R, SC.NOT_FOUND, "nope-hw",
     clist(hardware="nope-hw", max_latency_ms=1.0))
case("list-candidates-order-by-unknown", R, SC.INVALID_ARGUMENT, "order_by",
     clist(order_by="arch_hash; DROP TABLE candidates"))
case("list-candidates-order-by-latency-without-hardware", R, SC.INVALID_ARGUMENT, "order_by",
     clist(order_by="latency"))
case("list-candidates-page-token-garbage", R, SC.INVALID_ARGUMENT, "page_token",
     clist(page_token="garbage"))
case("list-candidates-page-token-negative", R, SC.INVALID_ARGUMENT, "page_token",
     clist(page_token="o-5"))
case("list-candidates-page-token-overflow", R, SC.INVALID_ARGUMENT, "page_token",
     clist(page_token="o99999999999999999999"))
case("list-candidates-raw-garbage", R, (SC.INTERNAL, SC.INVALID_ARGUMENT), None,
     lambda c: c.raw_unary("CandidateService/List", GARBAGE))

R = "CandidateService/Get"
case("get-candidate-empty", R, SC.INVALID_ARGUMENT, "id",
     lambda c: c.cands.Get(S.GetCandidateRequest(), timeout=TIMEOUT))
case("get-candidate-negative", R, SC.INVALID_ARGUMENT, "id",
     lambda c: c.cands.Get(S.GetCandidateRequest(id=-1), timeout=TIMEOUT))
case("get-candidate-unknown", R, SC.NOT_FOUND, f"candidate {MISSING}",
     lambda c: c.cands.Get(S.GetCandidateRequest(id=MISSING), timeout=TIMEOUT))
case("get-candidate-raw-garbage", R, (SC.INTERNAL, SC.INVALID_ARGUMENT), None,
     lambda c: c.raw_unary("CandidateService/Get", GARBAGE))

R = "CandidateService/Export"
case("export-candidate-empty", R, SC.INVALID_ARGUMENT, "id",
     lambda c: c.cands.Export(S.ExportCandidateRequest(), timeout=TIMEOUT))
case("export-candidate-unknown", R, SC.NOT_FOUND, f"candidate {MISSING}",
     lambda c: c.cands.Export(S.ExportCandidateRequest(id=MISSING), timeout=TIMEOUT))
case("export-candidate-format-unknown", R, SC.INVALID_ARGUMENT, "format",
     lambda c: c.cands.Export(S.ExportCandidateRequest(id=c.candidate, format="onnx"),
                              timeout=TIMEOUT))
case("export-candidate-format-oversized", R, SC.INVALID_ARGUMENT, "format",
     lambda c: c.cands.Export(S.ExportCandidateRequest(id=c.candidate, format="x" * MiB),
                              timeout=TIMEOUT))
case("export-candidate-raw-garbage", R, (SC.INTERNAL, SC.INVALID_ARGUMENT), None,
     lambda c: c.raw_unary("CandidateService/Export", GARBAGE))


# ------------------------------------------------------------ the checks
def snapshot(client):
    """Stored state as comparable values: hardware, table versions with their
    entry counts, jobs, and the number of candidates."""
    tables = sorted(client.list_tables(), key=lambda t: (t.hardware, t.version))
    return {
        "hardware": sorted(h.SerializeToString(deterministic=True)
                           for h in client.list_hardware()),
        "tables": [(t.hardware, t.version, t.entries,
                    len(client.export_table(t.hardware, t.version)[1]),
                    t.SerializeToString(deterministic=True)) for t in tables],
        "jobs": sorted((j.id, j.state, j.SerializeToString(deterministic=True))
                       for j in client.list_jobs()),
        "candidates": client.list_candidates(page_size=1)[2],
    }


@pytest.fixture(scope="module")
def ctx(module_daemon, module_client):
    c = Ctx(module_daemon, module_client)
    cl = module_client
    hardware_with_table(cl, HW)
    cl.register_hardware(spec_hardware(HW_NO_TABLE))
    c.keys = [e.key for e in cl.export_table(HW)[1]]
    done = cl.submit({"name": "bad-input-done", "space": "tiny", "objective": "PARAMS",
                      "population": 8, "sample_size": 4, "generations": 2, "seed": 3,
                      "budgets": [{"hardware": HW, "max_ms": 0.5}]})
    _, final = finish(cl, done.id)
    assert final.state == S.JOB_SUCCEEDED, final.error
    c.done_job = done.id
    c.candidate = next(cl.iter_candidates(job_id=done.id)).id
    # An EXTERNAL job waits for scores that never come: it stays RUNNING and
    # writes nothing while it waits.
    ext = cl.submit({"name": "bad-input-external", "space": "tiny", "objective": "EXTERNAL",
                     "population": 4, "sample_size": 2, "generations": 1, "seed": 3,
                     "unconstrained": True})
    wait_for(lambda: cl.get_job(ext.id).state == S.JOB_RUNNING, timeout=30,
             what="the EXTERNAL job to run")
    c.ext_job = ext.id
    c.before = snapshot(cl)
    assert c.before["candidates"] > 0 and len(c.before["tables"]) == 1
    yield c
    c.channel.close()


def _outcome(call):
    try:
        result = call()
    except grpc.RpcError as e:
        return e.code(), e.details() or "", "daemon"
    except lutnas.LutnasError as e:  # refused by the client before sending
        return e.code, e.details or "", "client"
    return SC.OK, repr(result)[:300], "daemon"


def _shorten(details):
    return details if len(details) < 400 else details[:400] + f"... ({len(details)} chars)"


def _stored(client):
    """A cheap look at what is stored: table versions, hardware, jobs, candidates."""
    return (sorted((t.hardware, t.version, t.entries) for t in client.list_tables()),
            sorted(h.name for h in client.list_hardware()),
            sorted(j.id for j in client.list_jobs()),
            client.list_candidates(page_size=1)[2])


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_request_is_refused(ctx, case):
    before = _stored(ctx.client)
    code, details, by = _outcome(lambda: case.call(ctx))
    alive = ctx.daemon.proc.poll() is None
    assert alive, (f"lutnasd died on {case.rpc} {case.id} (exit {ctx.daemon.proc.returncode}):\n"
                   + ctx.daemon.log_tail())
    want = case.code if isinstance(case.code, tuple) else (case.code,)
    assert code in want, (f"{case.rpc} {case.id}: expected {'/'.join(w.name for w in want)}, "
                          f"got {code.name} from the {by}: {_shorten(details)!r}")
    if case.field is not None:
        needles = case.field if isinstance(case.field, tuple) else (case.field,)
        assert any(n in details for n in needles), (
            f"{case.rpc} {case.id}: {code.name} is right but the details do not name "
            f"{' or '.join(map(repr, needles))}: {_shorten(details)!r}")
    if case.rpc == "TableService/Upload" and set(want) & {SC.RESOURCE_EXHAUSTED, SC.INTERNAL}:
        # gRPC's transport, not the handler, can be what refused the stream:
        # the handler may still be running. Give a wrongly stored table time
        # to show.
        time.sleep(0.5)
    after = _stored(ctx.client)
    assert after == before, (f"{case.rpc} {case.id} was refused ({code.name}) but changed "
                             f"stored state: {before} -> {after}")


def test_every_rpc_has_cases():
    rpcs = {f"{s.name}/{m.name}" for s in S.DESCRIPTOR.services_by_name.values()
            for m in s.methods}
    covered = {c.rpc for c in CASES}
    assert rpcs - covered == set(), f"RPCs without bad-input cases: {sorted(rpcs - covered)}"
    assert covered <= rpcs, f"cases for unknown RPCs: {sorted(covered - rpcs)}"
    assert len({c.id for c in CASES}) == len(CASES), "duplicate case ids"


def test_daemon_survives_and_state_is_unchanged(ctx):
    """Runs after the table: nothing a refused call sent changed anything."""
    assert ctx.daemon.proc.poll() is None, "lutnasd died:\n" + ctx.daemon.log_tail()
    with lutnas.Client(ctx.daemon.target, timeout=30) as fresh:
        fresh.wait_ready(10)
        after = snapshot(fresh)
        # Still serving real work.
        assert fresh.predict(tiny_arch(), [HW]).predictions[0].latency_ms > 0
    b, a = ctx.before, after
    diffs = []
    if [t[:4] for t in a["tables"]] != [t[:4] for t in b["tables"]]:
        diffs.append("table versions (hardware, version, entries, exported entries): "
                     f"{[t[:4] for t in b['tables']]} -> {[t[:4] for t in a['tables']]}")
    elif a["tables"] != b["tables"]:
        diffs.append("a stored table's info (correction, ...) changed")
    if a["hardware"] != b["hardware"]:
        new = set(a["hardware"]) - set(b["hardware"])
        diffs.append("hardware added or altered: "
                     f"{sorted(T.Hardware.FromString(h).name for h in new)}")
    if a["jobs"] != b["jobs"]:
        diffs.append(f"jobs (id, state): {[j[:2] for j in b['jobs']]} -> "
                     f"{[j[:2] for j in a['jobs']]}")
    if a["candidates"] != b["candidates"]:
        diffs.append(f"candidates: {b['candidates']} -> {a['candidates']}")
    assert not diffs, "refused calls changed stored state:\n  " + "\n  ".join(diffs)
