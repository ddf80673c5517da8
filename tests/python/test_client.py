"""lutnas.Client: stub generation, error mapping and client-side logic (no
daemon), then the wire protocol and every service against a real lutnasd."""

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import types

import grpc
import pytest

import lutnas
from lutnas import _stubs, errors, tablefile
from conftest import (PB, ROOT, TERMINAL_STATES, Daemon, block_keys, finish,
                      hardware_with_table, load_json, lutnasd_path, measured_entries,
                      spec_hardware, tiny_arch)

# ============================================================ stubs (no daemon)


def _copy_protos(dst):
    shutil.copytree(ROOT / "proto" / "lutnas", dst / "lutnas")
    return dst


def test_generate_writes_a_package_layout(tmp_path):
    proto = _copy_protos(tmp_path / "proto")
    gen = tmp_path / "gen"
    assert _stubs.is_stale(gen, proto)
    _stubs.generate(proto, gen)
    v1 = gen / "lutnas" / "v1"
    for name in ("arch_pb2", "space_pb2", "table_pb2", "service_pb2", "service_pb2_grpc",
                 "__init__"):
        assert (v1 / f"{name}.py").is_file(), name
    assert not (gen / "lutnas" / "__init__.py").exists()  # must not shadow the real package
    assert (gen / ".stamp").read_text().strip() == _stubs.proto_hash(proto)
    assert not _stubs.is_stale(gen, proto)
    assert [p.name for p in gen.iterdir() if p.name.startswith("tmp-")] == []


def test_stale_when_a_proto_changes_not_when_only_touched(tmp_path):
    proto = _copy_protos(tmp_path / "proto")
    gen = tmp_path / "gen"
    _stubs.generate(proto, gen)
    arch = proto / "lutnas" / "v1" / "arch.proto"
    future = time.time() + 100
    os.utime(arch, (future, future))
    assert not _stubs.is_stale(gen, proto)  # same content: no regeneration
    assert (gen / ".stamp").stat().st_mtime >= future - 1  # and no rehash next time
    arch.write_text(arch.read_text() + "\n// changed\n")
    os.utime(arch, (future + 100, future + 100))
    assert _stubs.is_stale(gen, proto)
    _stubs.ensure(gen, proto)
    assert not _stubs.is_stale(gen, proto)


def test_stale_when_a_generated_file_is_missing(tmp_path):
    proto = _copy_protos(tmp_path / "proto")
    gen = tmp_path / "gen"
    _stubs.generate(proto, gen)
    (gen / "lutnas" / "v1" / "service_pb2_grpc.py").unlink()
    assert _stubs.is_stale(gen, proto)


def test_read_only_package_generates_into_the_cache(tmp_path, monkeypatch):
    proto = _copy_protos(tmp_path / "proto")
    monkeypatch.setattr(_stubs, "_writable", lambda path: False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    got = _stubs.ensure(tmp_path / "pkg" / "_gen", proto)
    assert got.parent == tmp_path / "cache" / "lutnas"
    assert not _stubs.is_stale(got, proto)
    assert not (tmp_path / "pkg").exists()


def test_missing_protoc_is_a_clear_error(tmp_path, monkeypatch):
    proto = _copy_protos(tmp_path / "proto")
    monkeypatch.setenv("LUTNAS_PROTOC", str(tmp_path / "no-protoc"))
    monkeypatch.setitem(sys.modules, "grpc_tools", None)  # not importable
    with pytest.raises(_stubs.StubError, match="protoc not found"):
        _stubs.generate(proto, tmp_path / "gen")


def _fresh_checkout(tmp_path):
    """A copy of clients/python/lutnas (without _gen) and proto/ laid out like a checkout."""
    root = tmp_path / "checkout"
    shutil.copytree(ROOT / "clients" / "python" / "lutnas", root / "clients" / "python" / "lutnas",
                    ignore=shutil.ignore_patterns("_gen", "__pycache__"))
    _copy_protos(root / "proto")
    return root


IMPORT_CHECK = """
import lutnas, lutnas.v1.service_pb2 as s
from lutnas.v1 import arch_pb2
m = lutnas.proto()
assert m.service_pb2 is s and m.arch_pb2 is arch_pb2
assert s.Candidate().arch.__class__ is arch_pb2.Architecture
c = lutnas.Client("127.0.0.1:1", timeout=1)
c.close()
print(s.__file__)
"""


def test_fresh_checkout_generates_on_first_import(tmp_path):
    root = _fresh_checkout(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(root / "clients" / "python"))
    env.pop("LUTNAS_PROTO_DIR", None)
    # Several processes at once: one generates, the others wait on the lock.
    procs = [subprocess.Popen([sys.executable, "-c", IMPORT_CHECK], env=env, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    gen = root / "clients" / "python" / "lutnas" / "_gen"
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        assert out.strip() == str(gen / "lutnas" / "v1" / "service_pb2.py")
    assert not _stubs.is_stale(gen, root / "proto")
    assert [p.name for p in gen.iterdir() if p.name.startswith(("tmp-", "old-"))] == []


def test_scripts_lutnas_help_on_a_fresh_checkout(tmp_path):
    root = _fresh_checkout(tmp_path)
    (root / "scripts").mkdir()
    shutil.copy2(ROOT / "scripts" / "lutnas", root / "scripts" / "lutnas")
    for args in (["--help"], ["search", "submit", "--help"]):
        res = subprocess.run([str(root / "scripts" / "lutnas"), *args], capture_output=True,
                             text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        assert "usage: lutnas" in res.stdout
    # A command that needs the stubs generates them, then fails to connect cleanly.
    res = subprocess.run([str(root / "scripts" / "lutnas"), "--server", "127.0.0.1:1",
                          "--timeout", "2", "hardware", "list"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 1
    assert res.stderr.startswith("error: ") and "Traceback" not in res.stderr
    assert (root / "clients" / "python" / "lutnas" / "_gen" / "lutnas" / "v1"
            / "service_pb2_grpc.py").is_file()


# ============================================================ errors (no daemon)


class _RpcError(grpc.RpcError):
    def __init__(self, code, details):
        self._code, self._details = code, details

    def code(self):
        return self._code

    def details(self):
        return self._details


@pytest.mark.parametrize("code,cls", [
    (grpc.StatusCode.NOT_FOUND, lutnas.NotFound),
    (grpc.StatusCode.INVALID_ARGUMENT, lutnas.InvalidArgument),
    (grpc.StatusCode.ALREADY_EXISTS, lutnas.AlreadyExists),
    (grpc.StatusCode.FAILED_PRECONDITION, lutnas.FailedPrecondition),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, lutnas.ResourceExhausted),
    (grpc.StatusCode.UNAVAILABLE, lutnas.Unavailable),
    (grpc.StatusCode.DEADLINE_EXCEEDED, lutnas.DeadlineExceeded),
    (grpc.StatusCode.UNAUTHENTICATED, lutnas.Unauthenticated),
    (grpc.StatusCode.PERMISSION_DENIED, lutnas.PermissionDenied),
    (grpc.StatusCode.DATA_LOSS, lutnas.LutnasError),
    (grpc.StatusCode.INTERNAL, lutnas.LutnasError),
])
def test_error_mapping(code, cls):
    e = errors.from_rpc_error(_RpcError(code, "the details"))
    assert type(e) is cls
    assert isinstance(e, lutnas.LutnasError)
    assert e.code == code and e.details == "the details" and str(e) == "the details"


def test_deadline_exceeded_is_a_kind_of_unavailable():
    assert issubclass(lutnas.DeadlineExceeded, lutnas.Unavailable)
    assert not issubclass(lutnas.NotFound, lutnas.Unavailable)


def test_to_message_from_dict_and_message():
    d = load_json("models/mobilenet_v2.json")
    arch = lutnas.to_message(d, PB.arch_pb2.Architecture)
    assert arch.resolution == 224 and arch.stem[0].conv.out_channels == 32
    assert lutnas.to_message(arch, PB.arch_pb2.Architecture) is arch
    again = lutnas.to_message(lutnas.to_dict(arch), PB.arch_pb2.Architecture)
    assert again == arch


def test_to_message_rejects_bad_input():
    with pytest.raises(lutnas.InvalidArgument, match=r"^arch\.no_such_field: unknown field"):
        lutnas.to_message({"no_such_field": 1}, PB.arch_pb2.Architecture, "arch")
    with pytest.raises(lutnas.InvalidArgument, match="lutnas.v1.Architecture"):
        lutnas.to_message(PB.table_pb2.Hardware(), PB.arch_pb2.Architecture)
    with pytest.raises(TypeError):
        lutnas.to_message("models/mobilenet_v2.json", PB.arch_pb2.Architecture)


def test_unreachable_server_raises_unavailable():
    with lutnas.Client("127.0.0.1:1", timeout=2) as c:
        with pytest.raises(lutnas.Unavailable):
            c.list_hardware()


# ============================================================ client logic (no daemon)


class _EndlessWatch:
    """Stands in for a grpc stream call whose server never closes it: the one
    case the real daemon (which ends Watch at the terminal state) cannot
    produce. Records whether the client cancelled it."""

    def __init__(self, jobs):
        self.jobs, self.cancelled = jobs, False

    def __iter__(self):
        for j in self.jobs:
            yield PB.service_pb2.JobEvent(job=j)
        while not self.cancelled:
            time.sleep(0.01)

    def cancel(self):
        self.cancelled = True


def test_watch_stops_at_the_terminal_state_even_if_the_stream_stays_open(monkeypatch):
    jobs = [PB.service_pb2.Job(id=1, state=s) for s in (
        PB.service_pb2.JOB_QUEUED, PB.service_pb2.JOB_RUNNING, PB.service_pb2.JOB_SUCCEEDED)]
    call = _EndlessWatch(jobs)
    with lutnas.Client("127.0.0.1:1", timeout=1) as c:
        monkeypatch.setattr(c._search, "Watch", lambda req, timeout, metadata: call)
        assert [j.state for j in c.watch(1)] == [j.state for j in jobs]
    assert call.cancelled


def test_iter_candidates_detects_a_repeating_token(monkeypatch):
    with lutnas.Client("127.0.0.1:1", timeout=1) as c:
        monkeypatch.setattr(c, "list_candidates", lambda **kw: ([], "same", 1))
        with pytest.raises(lutnas.LutnasError, match="repeated page token"):
            list(c.iter_candidates())


def test_import_table_needs_exactly_one_source():
    with lutnas.Client("127.0.0.1:1", timeout=1) as c:
        with pytest.raises(lutnas.InvalidArgument):
            c.import_table("host-cpu")
        with pytest.raises(lutnas.InvalidArgument):
            c.import_table("host-cpu", path="x.csv", content=b"")


# ============================================================ real daemon

TEST_HW = spec_hardware("pytest-npu", backend="rknn", channel_alignment=16,
                        precisions=["int8", "fp16"], description="made up by test_client.py")


def _arch(width, name="pytest-arch", resolution=32):
    return tiny_arch(width, resolution, name)


def _breakdown(client, arch, hardware):
    (pred,) = client.predict(arch, [hardware], breakdown=True).predictions
    assert pred.blocks, "predict with breakdown returned no blocks"
    return pred


def _by_key(entries):
    return sorted(entries, key=lambda e: e.key)


class Recorder(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
               grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):
    """Client interceptor: what every call put on the wire (method, deadline,
    metadata, and the requests of client streams)."""

    def __init__(self):
        self.calls = []

    def _note(self, details, requests=None):
        self.calls.append(types.SimpleNamespace(
            method=details.method, timeout=details.timeout,
            metadata=dict(details.metadata or ()), requests=requests))

    def intercept_unary_unary(self, cont, details, request):
        self._note(details)
        return cont(details, request)

    def intercept_unary_stream(self, cont, details, request):
        self._note(details)
        return cont(details, request)

    def intercept_stream_unary(self, cont, details, request_iterator):
        sent = []
        self._note(details, sent)

        def tap():
            for r in request_iterator:
                sent.append(r)
                yield r
        return cont(details, tap())

    def intercept_stream_stream(self, cont, details, request_iterator):
        self._note(details)
        return cont(details, request_iterator)


@pytest.fixture
def recorded(module_daemon):
    rec = Recorder()
    with lutnas.Client(module_daemon.target, timeout=7.5, interceptors=[rec]) as c:
        yield c, rec


def test_every_call_has_a_deadline(recorded):
    c, rec = recorded
    c.list_hardware()
    c.get_hardware("rk3588-npu")
    c.list_tables()
    c.predict(_arch(16), ["rk3588-npu"])
    list(c.iter_candidates(page_size=10))
    c.list_hardware(timeout=2)  # a per-call timeout overrides the client's
    assert [x.timeout for x in rec.calls] == [7.5] * (len(rec.calls) - 1) + [2]
    assert all("authorization" not in x.metadata for x in rec.calls)  # no token, no header


def test_token_and_tls_against_a_daemon_that_requires_them(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key, token_file = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "token"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                    "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    token = "pytest-token-0123456789abcdef"
    token_file.write_text(token + "\n")
    d = Daemon(tmp_path / "tls", ["--tls_cert", str(cert), "--tls_key", str(key),
                                  "--token_file", str(token_file)]).start()
    try:
        rec = Recorder()
        with lutnas.Client(d.target, timeout=10, token=token, root_certificates=str(cert),
                           interceptors=[rec]) as c:
            assert "rk3588-npu" in [h.name for h in c.list_hardware()]
            assert c.predict(_arch(16), ["rk3588-npu"]).params > 0
        assert {x.metadata.get("authorization") for x in rec.calls} == {"Bearer " + token}
        with lutnas.Client(d.target, timeout=10, root_certificates=cert.read_bytes()) as c:
            with pytest.raises(lutnas.Unauthenticated) as e:
                c.list_hardware()
            assert "bearer token" in e.value.details
        with lutnas.Client(d.target, timeout=10, token="wrong-token-0123456789",
                           root_certificates=str(cert)) as c:
            with pytest.raises(lutnas.Unauthenticated):
                c.list_hardware()
        with lutnas.Client(d.target, timeout=3, token=token) as c:  # plaintext to a TLS port
            with pytest.raises(lutnas.Unavailable):
                c.list_hardware()
    finally:
        assert d.stop() == 0, d.log_tail()


def test_builtin_catalogue(module_client):
    hws = {h.name: h for h in module_client.list_hardware()}
    assert {"host-cpu", "rk3588-npu", "atlas-200i-a2"} <= set(hws)
    # host-cpu is meant to be measured: no published figures.
    assert (hws["host-cpu"].peak_gops, hws["host-cpu"].bandwidth_gbs) == (0, 0)
    assert hws["rk3588-npu"].peak_gops > 0 and hws["rk3588-npu"].bandwidth_gbs > 0
    assert module_client.get_hardware("host-cpu") == hws["host-cpu"]


def test_hardware_register_get_list_delete(module_client):
    client = module_client
    hw = dict(TEST_HW, name="pytest-crud")
    want = lutnas.to_message(hw, PB.table_pb2.Hardware)
    assert client.register_hardware(hw) == want
    assert client.get_hardware("pytest-crud") == want
    assert want in client.list_hardware()
    with pytest.raises(lutnas.AlreadyExists) as e:
        client.register_hardware(hw)
    assert e.value.code == grpc.StatusCode.ALREADY_EXISTS
    changed = dict(hw, description="updated")
    assert client.register_hardware(changed, update=True).description == "updated"
    assert client.get_hardware("pytest-crud").description == "updated"
    client.delete_hardware("pytest-crud")
    with pytest.raises(lutnas.NotFound) as e:
        client.get_hardware("pytest-crud")
    assert e.value.code == grpc.StatusCode.NOT_FOUND and "pytest-crud" in e.value.details
    with pytest.raises(lutnas.NotFound):
        client.delete_hardware("pytest-crud")
    assert "pytest-crud" not in [h.name for h in client.list_hardware()]


@pytest.mark.parametrize("name", ["Bad Name", "UPPER", "-leading-dash", "", "x" * 65, "a/b"])
def test_hardware_bad_name_is_invalid_argument(module_client, name):
    with pytest.raises(lutnas.InvalidArgument) as e:
        module_client.register_hardware(dict(TEST_HW, name=name))
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "name" in e.value.details


@pytest.mark.parametrize("field,value", [("peak_gops", -1.0), ("bandwidth_gbs", float("nan")),
                                         ("channel_alignment", 1000)])
def test_hardware_bad_figures_are_invalid_argument(module_client, field, value):
    with pytest.raises(lutnas.InvalidArgument) as e:
        module_client.register_hardware(dict(TEST_HW, name="pytest-bad-figures", **{field: value}))
    assert field in e.value.details


def test_unknown_names_are_not_found(module_client):
    client = module_client
    arch = _arch(24)
    with pytest.raises(lutnas.NotFound):
        client.predict(arch, ["no-such-hw"])
    with pytest.raises(lutnas.NotFound):
        client.upload_table({"hardware": "no-such-hw"},
                            measured_entries(["conv:o16,k3,s2,g1,relu@3x32x32"], 1.0))
    with pytest.raises(lutnas.NotFound):
        client.export_table("no-such-hw")
    with pytest.raises(lutnas.NotFound):
        client.list_tables("no-such-hw")
    with pytest.raises(lutnas.NotFound):
        client.get_job(987654)
    with pytest.raises(lutnas.NotFound):
        client.get_candidate(987654)
    with pytest.raises(lutnas.NotFound):
        client.cancel(987654)
    with pytest.raises(lutnas.NotFound):
        list(client.watch(987654, timeout=10))


# ---------------------------------------------------------------- tables


def test_table_upload_export_versions(module_client):
    client = module_client
    hw = "pytest-tables"
    client.register_hardware(dict(TEST_HW, name=hw))
    arch = _arch(24)
    pred = _breakdown(client, arch, hw)
    assert pred.table_version == 0 and pred.estimated_from_spec
    keys = block_keys(client, [arch], hw)
    extra = [k for k in block_keys(client, [_arch(40)], hw) if k not in keys]
    assert extra, "a wider network should have other keys"
    failed = PB.table_pb2.LatencyEntry(key=extra[0], status=PB.table_pb2.ENTRY_FAILED,
                                       error="unsupported, by the test")
    v1_entries = measured_entries(keys, 0.125) + [failed]
    info_in = {"hardware": hw, "backend": "rknn", "precision": "int8", "threads": 1,
               "tool": "test_client.py", "space": "tiny"}

    info = client.upload_table(info_in, v1_entries, batch=2)
    assert (info.hardware, info.version, info.entries, info.failed) == (
        hw, 1, len(v1_entries), 1)
    got_info, got = client.export_table(hw)
    assert got_info.version == 1
    assert (got_info.backend, got_info.precision, got_info.threads, got_info.tool) == (
        "rknn", "int8", 1, "test_client.py")
    assert _by_key(got) == _by_key(v1_entries)

    v2_entries = measured_entries(keys, 0.25)
    info = client.upload_table(info_in, v2_entries)
    assert info.version == 2
    assert sorted(t.version for t in client.list_tables(hw)) == [1, 2]
    assert all(t.hardware == hw for t in client.list_tables(hw))
    assert {(t.hardware, t.version) for t in client.list_tables(hw)} <= {
        (t.hardware, t.version) for t in client.list_tables()}
    assert _by_key(client.export_table(hw, version=1)[1]) == _by_key(v1_entries)  # history kept
    assert _by_key(client.export_table(hw)[1]) == _by_key(v2_entries)
    with pytest.raises(lutnas.NotFound):
        client.export_table(hw, version=3)

    # Prediction now reads the latest table: every block measured.
    pred = _breakdown(client, arch, hw)
    median = {e.key: e.median_ms for e in v2_entries}
    assert pred.table_version == 2
    assert not pred.estimated_from_spec and pred.measured_fraction == 1.0
    assert all(b.source == PB.table_pb2.SOURCE_MEASURED for b in pred.blocks)
    assert [b.latency_ms for b in pred.blocks] == [median[b.key] for b in pred.blocks]
    assert pred.sum_ms == pytest.approx(sum(median[b.key] for b in pred.blocks), rel=1e-9)
    assert pred.latency_ms == pytest.approx(pred.sum_ms, rel=1e-9)  # no correction yet

    # A fitted correction applies to the end-to-end estimate, not to the sum.
    info = client.set_correction(hw, 2, scale=1.25, offset_ms=0.5, fitted_on=12,
                                 mape_before=0.2, mape_after=0.05)
    assert (info.version, info.correction.scale, info.correction.offset_ms) == (2, 1.25, 0.5)
    assert client.export_table(hw, 2)[0].correction.fitted_on == 12
    pred = _breakdown(client, arch, hw)
    assert pred.latency_ms == pytest.approx(1.25 * pred.sum_ms + 0.5, rel=1e-9)
    assert client.export_table(hw, 1)[0].correction.scale == 0  # other versions untouched
    with pytest.raises(lutnas.InvalidArgument):
        client.set_correction(hw, 2, scale=0)
    with pytest.raises(lutnas.InvalidArgument):
        client.set_correction(hw, 0, scale=1.0)
    with pytest.raises(lutnas.NotFound):
        client.set_correction(hw, 9, scale=1.0, fitted_on=3)


def test_set_correction_is_never_a_silent_no_op(module_client):
    """A correction set by hand (`lutnas table set-correction --scale S
    --offset-ms O`, so fitted_on 0): SetCorrection answers OK and stores it,
    so Predict must apply it (table.proto: e2e = scale * sum + offset_ms) -
    or SetCorrection must reject it, naming the field."""
    c = module_client
    hw = "pytest-manual-correction"
    c.register_hardware(dict(TEST_HW, name=hw))
    c.upload_table({"hardware": hw}, measured_entries(block_keys(c, [_arch(16)], hw), 0.25))
    try:
        info = c.set_correction(hw, 1, scale=2.0, offset_ms=0.5)
    except lutnas.InvalidArgument as e:
        assert "fitted_on" in e.details
        return
    assert (info.correction.scale, info.correction.offset_ms) == (2.0, 0.5)
    (pred,) = c.predict(_arch(16), [hw]).predictions
    assert pred.latency_ms == pytest.approx(2.0 * pred.sum_ms + 0.5, rel=1e-9), (
        "SetCorrection stored a correction that Predict ignores")


def test_upload_streams_info_then_batches(module_client):
    c = module_client
    hw = "pytest-batches"
    c.register_hardware(dict(TEST_HW, name=hw))
    # 1200 distinct, valid keys: plain convs of every width from 1 to 1200.
    entries = [{"key": f"conv:o{i},k3,s1,g1,relu@3x8x8", "median_ms": i / 8, "samples": 5,
                "status": "ENTRY_MEASURED"} for i in range(1, 1201)]
    entries[3].update(status="ENTRY_FAILED", error="failed on purpose", median_ms=0)
    rec = Recorder()
    with lutnas.Client(c.target, timeout=30, interceptors=[rec]) as rc:
        info = rc.upload_table({"hardware": hw, "backend": "rknn"}, entries, batch=500)
    assert (info.version, info.entries, info.failed) == (1, 1200, 1)
    (call,) = rec.calls
    assert call.method.endswith("TableService/Upload")
    assert [len(r.entries) for r in call.requests] == [0, 500, 500, 200]
    assert call.requests[0].info.hardware == hw
    assert not any(r.HasField("info") for r in call.requests[1:])
    got_info, got = c.export_table(hw)
    assert got_info.version == 1 and got_info.backend == "rknn"
    want = [lutnas.to_message(e, PB.table_pb2.LatencyEntry) for e in entries]
    assert _by_key(got) == _by_key(want)


GOOD_ENTRY = {"key": "conv:o8,k3,s1,g1,relu@3x8x8", "median_ms": 1.0, "samples": 1,
              "status": "ENTRY_MEASURED"}


def test_upload_rejects_bad_entries_before_sending(module_client):
    c = module_client
    hw = "pytest-bad-entries"
    c.register_hardware(dict(TEST_HW, name=hw))
    rec = Recorder()
    with lutnas.Client(c.target, timeout=30, interceptors=[rec]) as rc:
        with pytest.raises(lutnas.InvalidArgument, match=r"entries\[1\]"):
            rc.upload_table({"hardware": hw}, [GOOD_ENTRY, {"median": 1}], batch=1)
    assert rec.calls == []  # a list is checked whole: no call at all
    assert c.list_tables(hw) == []


def test_upload_aborted_by_the_caller_stores_nothing(module_client):
    """service.proto: "a broken stream stores nothing". The entries' iterator
    fails after a batch went out; the client cancels the stream."""
    c = module_client
    hw = "pytest-aborted"
    c.register_hardware(dict(TEST_HW, name=hw))

    def entries():
        yield GOOD_ENTRY
        time.sleep(0.05)  # the batch above reaches the daemon first
        raise RuntimeError("measurement died")

    for _ in range(4):  # the daemon reads and acts in its own time: try a few
        with pytest.raises(RuntimeError, match="measurement died"):
            c.upload_table({"hardware": hw}, entries(), batch=1)
    time.sleep(0.2)
    stored = c.list_tables(hw)
    assert stored == [], f"a cancelled upload stored {len(stored)} table version(s)"


def test_upload_cancelled_mid_stream_stores_nothing(module_client):
    """The same at the gRPC level: info and a batch sent, the daemon has read
    them, then the call is cancelled instead of half-closed."""
    c = module_client
    hw = "pytest-cancelled"
    c.register_hardware(dict(TEST_HW, name=hw))
    release = threading.Event()

    def requests():
        yield PB.service_pb2.UploadTableRequest(info=PB.table_pb2.TableInfo(hardware=hw))
        yield PB.service_pb2.UploadTableRequest(
            entries=[lutnas.to_message(GOOD_ENTRY, PB.table_pb2.LatencyEntry)])
        release.wait(30)  # never ends the stream by itself

    with grpc.insecure_channel(c.target) as channel:
        stub = PB.service_pb2_grpc.TableServiceStub(channel)
        future = stub.Upload.future(requests(), timeout=30)
        time.sleep(0.3)  # both messages are read by now
        future.cancel()
        release.set()
        with pytest.raises(grpc.FutureCancelledError):
            future.result()
    time.sleep(0.2)
    stored = c.list_tables(hw)
    assert stored == [], f"a cancelled upload stored {len(stored)} table version(s)"


def test_upload_invalid_table_is_rejected_whole(module_client):
    c = module_client
    hw = "pytest-invalid"
    c.register_hardware(dict(TEST_HW, name=hw))
    good = GOOD_ENTRY
    for bad, field in (({"key": "not-a-key@1x1x1"}, "key"), ({"median_ms": -1}, "median_ms"),
                       ({"status": "ENTRY_FAILED"}, "error"), ({}, "duplicate")):
        with pytest.raises(lutnas.InvalidArgument) as e:
            c.upload_table({"hardware": hw}, [good, dict(good, **bad)])
        assert "entries[1]" in e.value.details and field in e.value.details
    with pytest.raises(lutnas.InvalidArgument):
        c.upload_table({"hardware": hw}, [])
    assert c.list_tables(hw) == []


CSV_DAEMON_STYLE = """# lutnas latency table v1
# hardware: {hw}
# backend: rknn
# precision: int8
# threads: 3
# tool: lutnas-profile 0.1 (libtorch 1.13)
# space: tiny
key,median_ms,iqr_ms,p10_ms,p90_ms,samples,status,error
conv:o16,k3,s2,g1,relu@3x64x64,0.084,0.0021,0.0821,0.0873,45,measured,
conv:o16,k7,s1,g1,relu@3x64x64,,,,,0,failed,unsupported operator
"""

OFA_YAML = """Conv-input:224x224x3-output:112x112x32:
  count: 50
  mean: 3.2
  var: 0.04
expanded_conv-input:112x112x16-output:56x56x24-expand:6-kernel:3-stride:2-idskip:0: {count: 50, mean: 6.1, var: 0.09}
MaxPool-input:56x56x24-output:28x28x24:
  count: 50
  mean: 0.3
  var: 0.0
"""


def test_import_csv_json_and_ofa(module_client):
    c = module_client
    hw = "pytest-import"
    c.register_hardware(dict(TEST_HW, name=hw))
    # The daemon's own CSV style: unquoted keys, metadata comments.
    resp = c.import_table(hw, content=CSV_DAEMON_STYLE.format(hw=hw))
    assert (resp.info.version, resp.info.entries, resp.info.failed) == (1, 2, 1)
    assert (resp.info.backend, resp.info.threads, resp.info.source) == ("rknn", 3, "import:csv")
    assert list(resp.unmapped) == []
    # The client's CSV writer quotes keys; the daemon reads that too.
    _, entries = c.export_table(hw, 1)
    text = tablefile.csv_text([lutnas.to_dict(e) for e in entries], hardware=hw)
    assert '"conv:o16,k3,s2,g1,relu@3x64x64"' in text
    resp = c.import_table(hw, content=text)
    assert resp.info.version == 2 and _by_key(c.export_table(hw, 2)[1]) == _by_key(entries)
    # JSON: a LatencyTable in the protobuf mapping.
    doc = {"info": {"hardware": hw}, "entries": [lutnas.to_dict(e) for e in entries]}
    resp = c.import_table(hw, content=json.dumps(doc), format="json")
    assert resp.info.version == 3 and _by_key(c.export_table(hw, 3)[1]) == _by_key(entries)
    # Once-for-All YAML: what has no lutnas block comes back as unmapped.
    resp = c.import_table(hw, content=OFA_YAML, format="ofa")
    assert resp.info.version == 4 and resp.info.source == "import:ofa"
    assert list(resp.unmapped) == ["MaxPool-input:56x56x24-output:28x28x24"]
    assert {e.key for e in c.export_table(hw, 4)[1]} == {
        "conv:o32,k3,s2,g1,relu6@3x224x224", "mbconv:o24,e6,k3,s2,se0,relu6@16x112x112"}
    # Errors name the line; a rejected import stores nothing.
    with pytest.raises(lutnas.InvalidArgument, match="line 2"):
        c.import_table(hw, content="key,median_ms,iqr_ms,p10_ms,p90_ms,samples,status,error\n"
                                   "conv:o16,k3,s2,g1,relu@3x64x64,fast,0,0,0,1,measured,\n")
    with pytest.raises(lutnas.InvalidArgument, match="hardware"):
        c.import_table(hw, content=CSV_DAEMON_STYLE.format(hw="some-other-hw"))
    with pytest.raises(lutnas.PermissionDenied):  # no --import_dir: no daemon-side paths
        c.import_table(hw, path="/etc/passwd")
    assert sorted(t.version for t in c.list_tables(hw)) == [1, 2, 3, 4]


# ---------------------------------------------------------------- predict


def test_predict_from_spec(module_client):
    resp = module_client.predict(load_json("models/mobilenet_v2.json"), ["rk3588-npu"],
                                 breakdown=True)
    assert resp.params == 3504872
    (p,) = resp.predictions
    assert p.hardware == "rk3588-npu"
    assert p.estimated_from_spec and p.table_version == 0 and p.measured_fraction == 0.0
    assert p.latency_ms > 0 and p.sum_ms > 0
    assert p.blocks and all(b.source == PB.table_pb2.SOURCE_ROOFLINE for b in p.blocks)
    assert p.sum_ms == pytest.approx(sum(b.latency_ms for b in p.blocks), rel=1e-9)
    assert [b.where for b in p.blocks][:2] == ["stem[0]", "stages[0].blocks[0]"]
    assert p.blocks[-1].where == "head"
    inspect = lutnasd_path().parent / "lutnas-inspect"
    if inspect.exists():  # the same core library must give the same numbers
        out = subprocess.run([str(inspect), str(ROOT / "models/mobilenet_v2.json"), "--json"],
                             capture_output=True, text=True, check=True).stdout
        ref = json.loads(out)
        assert (resp.arch_hash, resp.macs, resp.mac_bytes) == (
            ref["hash"], ref["macs"], ref["mac_bytes"])


def test_predict_without_hardware_returns_costs_only(module_client):
    with_hw = module_client.predict(load_json("models/mobilenet_v2.json"), ["rk3588-npu"])
    costs = module_client.predict(load_json("models/mobilenet_v2.json"))
    assert list(costs.predictions) == []
    assert (costs.arch_hash, costs.params, costs.macs, costs.mac_bytes) == (
        with_hw.arch_hash, with_hw.params, with_hw.macs, with_hw.mac_bytes)


def test_predict_on_hardware_without_table_or_figures_fails(module_client):
    c = module_client
    arch = load_json("models/mobilenet_v2.json")
    for hw in ("host-cpu", "ambarella-cv22"):  # catalogue entries meant to be measured
        with pytest.raises(lutnas.FailedPrecondition) as e:
            c.predict(arch, ["rk3588-npu", hw])
        assert e.value.code == grpc.StatusCode.FAILED_PRECONDITION
        assert e.value.details.startswith("hardware[1]: ") and hw in e.value.details
        assert "no latency table" in e.value.details
    # Once such hardware has a table it predicts from it.
    hw = "pytest-nofigures"
    c.register_hardware(dict(TEST_HW, name=hw, peak_gops=0, bandwidth_gbs=0))
    with pytest.raises(lutnas.FailedPrecondition):
        c.predict(_arch(16), [hw])
    keys = block_keys(c, [_arch(16)], "rk3588-npu")
    c.upload_table({"hardware": hw}, measured_entries(keys, 0.5))
    (p,) = c.predict(_arch(16), [hw]).predictions
    assert (p.table_version, p.estimated_from_spec, p.measured_fraction) == (1, False, 1.0)
    assert p.latency_ms == pytest.approx(sum(0.5 * (i + 1) for i in range(len(keys))))


def test_predict_batch_in_order(module_client):
    res = module_client.predict_batch([load_json("models/mobilenet_v2.json"),
                                       load_json("models/resnet18.json")],
                                      ["rk3588-npu", "atlas-200i-a2"])
    assert [r.params for r in res] == [3504872, 11689512]
    assert all([p.hardware for p in r.predictions] == ["rk3588-npu", "atlas-200i-a2"]
               for r in res)
    single = module_client.predict(load_json("models/resnet18.json"), ["atlas-200i-a2"])
    # The batch answer is compact: each estimated key counts its places (occurrences)
    # instead of listing them (where); otherwise the same as a single Predict.
    want = single.predictions[0].proto
    assert all(k.occurrences == len(k.where) > 0 for k in want.estimated_keys)
    for k in want.estimated_keys:
        del k.where[:]
    assert res[1].predictions[1] == want
    with pytest.raises(lutnas.InvalidArgument, match=r"archs\[1\]"):
        module_client.predict_batch([_arch(16), dict(_arch(16), resolution=4)])


def test_predict_invalid_arch_names_the_field(module_client):
    bad = dict(_arch(24), resolution=4)
    with pytest.raises(lutnas.InvalidArgument) as e:
        module_client.predict(bad, ["rk3588-npu"])
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "resolution" in e.value.details


# ---------------------------------------------------------------- search

SEARCH_HW = "pytest-search"
REPORT_HW = ["rk3588-npu", "atlas-200i-a2"]


def _search_spec(**over):
    spec = {"name": "pytest-tiny", "space": "tiny", "algorithm": "EVOLUTION",
            "objective": "PARAMS", "population": 8, "sample_size": 4, "generations": 2,
            "seed": 7, "budgets": [{"hardware": SEARCH_HW, "max_ms": 0.3}],
            "report_hardware": REPORT_HW}
    spec.update(over)
    return spec


@pytest.fixture(scope="module")
def searched(module_client):
    """One finished PARAMS search on the tiny space, budget on a hardware
    with an uploaded table (shared by the tests below)."""
    c = module_client
    table = hardware_with_table(c, SEARCH_HW)
    job = c.submit(_search_spec())
    events, final = finish(c, job.id, timeout=300)
    # A newer table after submit: the job keeps the version pinned at submit.
    c.upload_table({"hardware": SEARCH_HW}, c.export_table(SEARCH_HW)[1])
    return types.SimpleNamespace(client=c, job=job, events=events, final=final, table=table)


def test_search_runs_to_completion(searched):
    c, job, events, final = searched.client, searched.job, searched.events, searched.final
    assert job.id > 0
    assert job.state in (PB.service_pb2.JOB_QUEUED, PB.service_pb2.JOB_RUNNING,
                         PB.service_pb2.JOB_SUCCEEDED)
    assert job.spec.population == 8 and job.spec.space == "tiny"
    assert PB.service_pb2.JobState.Name(final.state) == "JOB_SUCCEEDED", final.error
    assert events
    evaluated = [e.progress.evaluated for e in events] + [final.progress.evaluated]
    assert evaluated == sorted(evaluated)
    generations = [e.progress.generation for e in events] + [final.progress.generation]
    assert generations == sorted(generations)
    # Each architecture is evaluated once (a repeat reuses its evaluation), and
    # repairs of infeasible children are evaluations too: no fixed count.
    assert final.progress.evaluated >= 8
    assert 0 < final.progress.feasible <= final.progress.evaluated
    assert (final.progress.generation, final.progress.generations) == (2, 2)
    assert c.get_job(job.id).state == PB.service_pb2.JOB_SUCCEEDED
    assert job.id in [j.id for j in c.list_jobs()]


def test_submit_fills_defaults_and_pins_the_table_version(searched):
    job = searched.client.get_job(searched.job.id)
    assert job.spec.budgets[0].table_version == searched.table.version == 1
    assert job.spec.objective == PB.service_pb2.PARAMS
    assert job.spec.proxy_resolution == 64 and job.spec.proxy_batch == 8  # documented defaults
    assert job.created_unix_ms > 0 and job.updated_unix_ms >= job.created_unix_ms


def test_candidates_all_pages_no_duplicates(searched):
    c, job = searched.client, searched.job
    ids, total, token, pages = [], None, "", 0
    while True:
        page, token, t = c.list_candidates(job_id=job.id, page_size=5, page_token=token)
        total = t if total is None else total
        assert t == total and len(page) <= 5
        ids += [x.id for x in page]
        assert all(x.job_id == job.id for x in page)
        pages += 1
        if not token:
            break
        assert len(page) == 5
    assert len(ids) == len(set(ids)) == total
    assert total == searched.final.progress.evaluated
    assert pages == -(-total // 5)
    assert ids == sorted(ids)  # default order: id
    assert [x.id for x in c.iter_candidates(job_id=job.id, page_size=3)] == ids
    hashes = [x.arch_hash for x in c.iter_candidates(job_id=job.id)]
    assert len(hashes) == len(set(hashes))


def test_candidates_latency_budget_hardware_first(searched):
    c, job = searched.client, searched.job
    for cand in c.iter_candidates(job_id=job.id):
        assert [p.hardware for p in cand.latency] == [SEARCH_HW] + REPORT_HW
        budget = cand.latency[0]
        assert budget.table_version == 1 and not budget.estimated_from_spec  # pinned version
        assert all(p.estimated_from_spec and p.table_version == 0 for p in cand.latency[1:])
        # Latencies are the same predictions Predict gives (same table version).
        assert cand.feasible == (budget.latency_ms <= 0.3)


def test_candidates_filters_and_order(searched):
    c, job = searched.client, searched.job
    all_c = list(c.iter_candidates(job_id=job.id))
    hw = SEARCH_HW
    assert any(x.feasible for x in all_c) and not all(x.feasible for x in all_c)
    for cand in all_c:
        assert cand.params > 0 and cand.macs > 0 and cand.arch_hash
    by_params = [x.params for x in c.iter_candidates(job_id=job.id, order_by="params",
                                                     descending=True)]
    assert by_params == sorted(by_params, reverse=True)
    assert sorted(by_params) == sorted(x.params for x in all_c)
    by_score = [x.score for x in c.iter_candidates(job_id=job.id, order_by="score")]
    assert by_score == sorted(by_score)
    pareto = list(c.iter_candidates(job_id=job.id, pareto_only=True))
    assert pareto and all(x.pareto for x in pareto)
    assert {x.id for x in pareto} == {x.id for x in all_c if x.pareto}
    assert len(pareto) == searched.final.progress.pareto_size
    cap = sorted(x.params for x in all_c)[len(all_c) // 2]
    capped = list(c.iter_candidates(job_id=job.id, max_params=cap))
    assert {x.id for x in capped} == {x.id for x in all_c if x.params <= cap}
    lat = {x.id: next(p.latency_ms for p in x.latency if p.hardware == hw) for x in all_c}
    limit = sorted(lat.values())[len(lat) // 2]
    fast = list(c.iter_candidates(job_id=job.id, hardware=hw, max_latency_ms=limit))
    assert {x.id for x in fast} == {i for i, ms in lat.items() if ms <= limit}
    # Ordering by latency names the hardware (and, the daemon insists, a maximum).
    by_lat = [x.id for x in c.iter_candidates(job_id=job.id, hardware=hw, order_by="latency",
                                              max_latency_ms=1e300)]
    assert [lat[i] for i in by_lat] == sorted(lat.values())
    with pytest.raises(lutnas.InvalidArgument, match="hardware"):
        c.list_candidates(job_id=job.id, order_by="latency")


def test_get_candidate_has_breakdown(searched):
    c = searched.client
    first = next(c.iter_candidates(job_id=searched.job.id))
    got = c.get_candidate(first.id)
    assert (got.id, got.arch_hash, got.params, got.score) == (
        first.id, first.arch_hash, first.params, first.score)
    assert got.arch.resolution in (64, 96)
    assert all(p.blocks for p in got.latency)
    assert [p.hardware for p in got.latency] == [SEARCH_HW] + REPORT_HW
    assert c.predict(got.arch).arch_hash == got.arch_hash


def test_export_json_is_the_architecture(searched):
    c = searched.client
    first = next(c.iter_candidates(job_id=searched.job.id))
    resp = c.export_candidate(first.id, "json")
    arch = lutnas.to_message(json.loads(resp.content), PB.arch_pb2.Architecture)
    assert c.predict(arch).arch_hash == first.arch_hash
    assert resp.filename.endswith(".json")
    with pytest.raises(lutnas.InvalidArgument):
        c.export_candidate(first.id, "tflite")


def test_export_pytorch_params_match(searched):
    torch = pytest.importorskip("torch")
    from lutnas.torch_export import build_model

    c = searched.client
    for cand in list(c.iter_candidates(job_id=searched.job.id))[:3]:
        resp = c.export_candidate(cand.id, "pytorch")
        assert resp.filename.endswith(".py")
        model, shape = build_model(resp.content, f"candidate_{cand.id}")
        assert sum(p.numel() for p in model.parameters()) == cand.params
        assert shape == (1, 3, cand.arch.resolution, cand.arch.resolution)
        with torch.no_grad():
            out = model(torch.randn(*shape))
        assert tuple(out.shape) == (1, 100)  # tiny space's head


def test_cancel_finished_job_is_failed_precondition(searched):
    with pytest.raises(lutnas.FailedPrecondition) as e:
        searched.client.cancel(searched.job.id)
    assert e.value.code == grpc.StatusCode.FAILED_PRECONDITION


def test_submit_invalid_spec_names_the_field(module_client):
    with pytest.raises(lutnas.InvalidArgument) as e:
        module_client.submit(_search_spec(budgets=[], population=8, sample_size=9))
    assert "sample_size" in e.value.details
    with pytest.raises((lutnas.InvalidArgument, lutnas.NotFound)) as e:
        module_client.submit(_search_spec(budgets=[], space="no-such-space"))
    assert "space" in e.value.details
    with pytest.raises(lutnas.InvalidArgument) as e:
        module_client.submit(_search_spec(budgets=[], proxy_resolution=8))
    assert "proxy_resolution" in e.value.details
    with pytest.raises(lutnas.NotFound) as e:
        module_client.submit(_search_spec(budgets=[], report_hardware=["no-such-hw"]))
    assert "report_hardware[0]" in e.value.details


def test_submit_needs_predictable_hardware(module_client):
    c = module_client
    with pytest.raises(lutnas.FailedPrecondition) as e:
        c.submit(_search_spec(budgets=[], report_hardware=["rk3588-npu", "host-cpu"]))
    assert e.value.details.startswith("spec.report_hardware[1]: ")
    assert "host-cpu" in e.value.details and "no latency table" in e.value.details
    # A budget needs a measured table, spec figures are not enough to budget against.
    for hw in ("host-cpu", "rk3588-npu"):
        with pytest.raises(lutnas.FailedPrecondition) as e:
            c.submit(_search_spec(budgets=[{"hardware": hw, "max_ms": 5}], report_hardware=[]))
        assert e.value.details.startswith("spec.budgets[0].hardware: ") and hw in e.value.details
    with pytest.raises(lutnas.NotFound) as e:
        c.submit(_search_spec(budgets=[{"hardware": "rk3588-npu", "max_ms": 5,
                                        "table_version": 7}], report_hardware=[]))
    assert "table_version" in e.value.details


def test_watch_stream_ends_with_the_terminal_state(module_client):
    """service.proto: Watch streams a job's snapshots until it ends, so the
    last snapshot of a stream that ends OK is the terminal one (a watcher
    needs no Get to learn how its job ended). Short jobs, watched from
    submit, make the end of the stream race the job's last updates."""
    c = module_client
    ended_early = []
    channel = grpc.insecure_channel(c.target)
    stub = PB.service_pb2_grpc.SearchServiceStub(channel)
    for seed in range(12):
        job = c.submit(_search_spec(name="pytest-watch", budgets=[], unconstrained=True, generations=20, seed=seed))
        events = list(stub.Watch(PB.service_pb2.WatchJobRequest(id=job.id), timeout=60))
        last = events[-1].job
        if last.state not in TERMINAL_STATES:
            final = c.get_job(job.id)
            ended_early.append(
                f"job {job.id}: stream ended OK after {len(events)} snapshots, the last "
                f"{PB.service_pb2.JobState.Name(last.state)} generation "
                f"{last.progress.generation} updated_unix_ms {last.updated_unix_ms}; Get says "
                f"{PB.service_pb2.JobState.Name(final.state)} updated_unix_ms "
                f"{final.updated_unix_ms}")
    channel.close()
    assert not ended_early, "\n".join(ended_early)


def test_cancel_running_job(module_client):
    c = module_client
    job = c.submit(_search_spec(name="pytest-cancel", budgets=[], unconstrained=True, population=100,
                                sample_size=10, generations=2000))
    c.cancel(job.id)
    states = [j.state for j in c.watch(job.id, timeout=60)]
    assert states[-1] == PB.service_pb2.JOB_CANCELLED
    assert c.get_job(job.id).state == PB.service_pb2.JOB_CANCELLED
    with pytest.raises(lutnas.FailedPrecondition):
        c.cancel(job.id)


def test_job_past_its_runtime_fails(module_client):
    c = module_client
    job = c.submit(_search_spec(name="pytest-timeout", budgets=[], unconstrained=True, generations=500,
                                max_runtime_s=1e-6))
    _, final = finish(c, job.id, timeout=60)
    assert final.state == PB.service_pb2.JOB_FAILED
    assert "max_runtime_s" in final.error


def test_ask_tell_external_objective(module_client):
    c = module_client
    job = c.submit(_search_spec(name="pytest-external", objective="EXTERNAL", budgets=[], unconstrained=True,
                                population=4, sample_size=2, generations=1))
    told, deadline = {}, time.monotonic() + 120
    terminal = {PB.service_pb2.JOB_SUCCEEDED, PB.service_pb2.JOB_FAILED,
                PB.service_pb2.JOB_CANCELLED}
    while c.get_job(job.id).state not in terminal:
        assert time.monotonic() < deadline, "external job did not finish"
        try:
            asked = c.ask(job.id, 4)
        except lutnas.FailedPrecondition:  # not started yet, or finishing
            time.sleep(0.05)
            continue
        if not asked:
            time.sleep(0.05)
            continue
        assert all([p.hardware for p in a.latency] == REPORT_HW for a in asked)
        scores = {a.arch_hash: float(a.params % 997) for a in asked}
        assert c.tell(job.id, scores) == len(scores)
        told.update(scores)
    final = c.get_job(job.id)
    assert final.state == PB.service_pb2.JOB_SUCCEEDED, final.error
    assert told
    for cand in c.iter_candidates(job_id=job.id):
        assert cand.score == told[cand.arch_hash]
    with pytest.raises(lutnas.FailedPrecondition):
        c.ask(job.id, 1)


def test_ask_on_a_proxy_job_is_failed_precondition(searched):
    with pytest.raises(lutnas.FailedPrecondition):
        searched.client.ask(searched.job.id, 1)


def test_clients_from_threads_share_a_channel(module_client):
    errs = []

    def work():
        try:
            for _ in range(5):
                module_client.list_hardware()
        except Exception as e:  # noqa: BLE001
            errs.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errs == []
