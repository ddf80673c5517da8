"""lutnas.Client: stub generation, error mapping and the wire protocol against
an in-process fake (no daemon), then every service against a real lutnasd."""

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
from lutnas import _stubs, errors
from conftest import PB, ROOT, load_json, lutnasd_path

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
    with pytest.raises(lutnas.InvalidArgument, match="arch: .*no_such_field"):
        lutnas.to_message({"no_such_field": 1}, PB.arch_pb2.Architecture, "arch")
    with pytest.raises(lutnas.InvalidArgument, match="lutnas.v1.Architecture"):
        lutnas.to_message(PB.table_pb2.Hardware(), PB.arch_pb2.Architecture)
    with pytest.raises(TypeError):
        lutnas.to_message("models/mobilenet_v2.json", PB.arch_pb2.Architecture)


def test_unreachable_server_raises_unavailable():
    with lutnas.Client("127.0.0.1:1", timeout=2) as c:
        with pytest.raises(lutnas.Unavailable):
            c.list_hardware()


# ============================================================ wire (fake server)


def test_every_call_has_a_deadline_and_the_token(fake):
    with lutnas.Client(fake.target, timeout=7.5, token="s3cret") as c:
        c.list_hardware()
        c.get_hardware("host-cpu")
        c.list_tables()
        list(c.iter_candidates(page_size=10))  # 3 pages
    st = fake.state
    assert len(st.metadata) == 6
    assert all(m.get("authorization") == "Bearer s3cret" for m in st.metadata)
    assert all(d is not None and 0 < d <= 7.6 for d in st.deadlines)  # + clock slack


def test_no_token_no_authorization_header(fake):
    with lutnas.Client(fake.target) as c:
        c.list_hardware()
    assert "authorization" not in fake.state.metadata[0]


def test_per_call_timeout_overrides(fake):
    with lutnas.Client(fake.target, timeout=30) as c:
        c.list_hardware(timeout=2)
    assert fake.state.deadlines[0] <= 2.1


def test_errors_over_the_wire(fake):
    with lutnas.Client(fake.target) as c:
        with pytest.raises(lutnas.NotFound) as e:
            c.get_hardware("nope")
        assert e.value.code == grpc.StatusCode.NOT_FOUND and "nope" in e.value.details
        with pytest.raises(lutnas.InvalidArgument, match="name"):
            c.register_hardware({"name": "Bad Name"})
        with pytest.raises(lutnas.AlreadyExists):
            c.register_hardware({"name": "host-cpu"})
        with pytest.raises(lutnas.FailedPrecondition):
            c.cancel(1)
        with pytest.raises(lutnas.NotFound):
            list(c.watch(99))


def test_upload_streams_info_then_batches(fake):
    entries = [{"key": f"conv:o{i},k3,s1,g1,relu@3x8x8", "median_ms": i / 8, "samples": 5,
                "status": "ENTRY_MEASURED"} for i in range(1, 1201)]
    entries[3]["status"] = "ENTRY_FAILED"
    with lutnas.Client(fake.target) as c:
        info = c.upload_table({"hardware": "host-cpu", "backend": "libtorch-cpu"}, entries,
                              batch=500)
        assert (info.version, info.entries, info.failed) == (1, 1200, 1)
        reqs = fake.state.upload_requests[0]
        assert [len(r.entries) for r in reqs] == [0, 500, 500, 200]
        assert reqs[0].info.hardware == "host-cpu" and not reqs[1].HasField("info")
        got_info, got = c.export_table("host-cpu")
        assert got_info.version == 1
        assert [lutnas.to_dict(e, defaults=False) for e in got] == [
            lutnas.to_dict(lutnas.to_message(e, PB.table_pb2.LatencyEntry), defaults=False)
            for e in entries]


def test_upload_aborted_by_the_caller_stores_nothing(fake):
    def entries():
        yield {"key": "conv:o8,k3,s1,g1,relu@3x8x8", "median_ms": 1.0}
        raise RuntimeError("measurement died")

    with lutnas.Client(fake.target) as c:
        with pytest.raises((RuntimeError, lutnas.LutnasError)):
            c.upload_table({"hardware": "host-cpu"}, entries(), batch=1)
        assert fake.state.upload_requests == []
        assert c.list_tables("host-cpu") == []


def test_upload_rejects_bad_entries_before_sending(fake):
    with lutnas.Client(fake.target) as c:
        with pytest.raises(lutnas.InvalidArgument, match=r"entries\[1\]"):
            c.upload_table({"hardware": "host-cpu"}, [{"key": "a"}, {"median": 1}])


def test_watch_stops_at_the_terminal_state(fake):
    with lutnas.Client(fake.target) as c:
        states = [PB.service_pb2.JobState.Name(j.state) for j in c.watch(1, timeout=20)]
    assert states == ["JOB_RUNNING", "JOB_RUNNING", "JOB_SUCCEEDED"]


def test_iter_candidates_follows_pages(fake):
    with lutnas.Client(fake.target) as c:
        page, token, total = c.list_candidates(page_size=10)
        assert (len(page), token, total) == (10, "10", 23)
        ids = [x.id for x in c.iter_candidates(page_size=10)]
        assert ids == list(range(1, 24))
        ids = [x.id for x in c.iter_candidates(page_size=7, order_by="params", descending=True)]
        assert ids == list(range(23, 0, -1))


def test_iter_candidates_detects_a_repeating_token(fake, monkeypatch):
    with lutnas.Client(fake.target) as c:
        monkeypatch.setattr(c, "list_candidates", lambda **kw: ([], "same", 1))
        with pytest.raises(lutnas.LutnasError, match="repeated page token"):
            list(c.iter_candidates())


def test_import_table_needs_exactly_one_source(fake):
    with lutnas.Client(fake.target) as c:
        with pytest.raises(lutnas.InvalidArgument):
            c.import_table("host-cpu")
        with pytest.raises(lutnas.InvalidArgument):
            c.import_table("host-cpu", path="x.csv", content=b"")
        csv_text = 'key,median_ms\n"conv:o8,k3,s1,g1,relu@3x8x8",1.5\n'
        resp = c.import_table("host-cpu", content=csv_text)
        assert resp.info.entries == 1 and list(resp.unmapped) == ["ofa-key-1"]


def test_ask_tell_and_predict_batch(fake):
    with lutnas.Client(fake.target) as c:
        asked = c.ask(1, 3)
        assert len(asked) == 3
        assert c.tell(1, {a.arch_hash: 1.5 for a in asked}) == 3
        assert fake.state.told == {a.arch_hash: 1.5 for a in asked}
        res = c.predict_batch([load_json("models/mobilenet_v2.json")] * 2, "host-cpu")
        assert [r.params for r in res] == [3504872, 3504872]
        info = c.upload_table({"hardware": "host-cpu"}, [])
        assert info.version == 1
        info = c.set_correction("host-cpu", 1, scale=1.25, offset_ms=0.5)
        assert (info.correction.scale, info.correction.offset_ms) == (1.25, 0.5)


# ============================================================ real daemon

TEST_HW = {
    "name": "pytest-npu", "description": "made up by test_client.py", "backend": "rknn",
    "precision": "int8", "threads": 1, "peak_gops": 6000.0, "bandwidth_gbs": 20.0,
    "channel_alignment": 16, "precisions": ["int8", "fp16"], "source": "pytest",
}


def _arch(width, name="pytest-arch", resolution=32):
    return {
        "name": name, "resolution": resolution,
        "stem": [{"conv": {"out_channels": 16, "kernel": 3, "stride": 2, "act": "RELU"}}],
        "stages": [{"blocks": [
            {"mbconv": {"out_channels": width, "expansion": 3, "kernel": 3, "stride": 2}},
            {"conv": {"out_channels": width, "kernel": 3, "stride": 1}},
        ]}],
        "head": {"conv_channels": 0, "num_classes": 10},
    }


def _breakdown(client, arch, hardware):
    (pred,) = client.predict(arch, [hardware], breakdown=True).predictions
    assert pred.blocks, "predict with breakdown returned no blocks"
    return pred


def _unique_keys(pred):
    return list(dict.fromkeys(b.key for b in pred.blocks))


def _entries(keys, scale):
    return [PB.table_pb2.LatencyEntry(
        key=k, median_ms=scale * (i + 1), iqr_ms=scale / 8, p10_ms=scale * (i + 1) - scale / 4,
        p90_ms=scale * (i + 1) + scale / 4, samples=50, status=PB.table_pb2.ENTRY_MEASURED)
        for i, k in enumerate(keys)]


def _by_key(entries):
    return sorted(entries, key=lambda e: e.key)


def test_builtin_catalogue_has_host_cpu(client):
    names = [h.name for h in client.list_hardware()]
    assert "host-cpu" in names
    assert client.get_hardware("host-cpu").name == "host-cpu"


def test_hardware_register_get_list_delete(client):
    want = lutnas.to_message(TEST_HW, PB.table_pb2.Hardware)
    assert client.register_hardware(TEST_HW) == want
    assert client.get_hardware("pytest-npu") == want
    assert want in client.list_hardware()
    with pytest.raises(lutnas.AlreadyExists) as e:
        client.register_hardware(TEST_HW)
    assert e.value.code == grpc.StatusCode.ALREADY_EXISTS
    changed = dict(TEST_HW, description="updated")
    assert client.register_hardware(changed, update=True).description == "updated"
    assert client.get_hardware("pytest-npu").description == "updated"
    client.delete_hardware("pytest-npu")
    with pytest.raises(lutnas.NotFound) as e:
        client.get_hardware("pytest-npu")
    assert e.value.code == grpc.StatusCode.NOT_FOUND
    with pytest.raises(lutnas.NotFound):
        client.delete_hardware("pytest-npu")
    assert "pytest-npu" not in [h.name for h in client.list_hardware()]


@pytest.mark.parametrize("name", ["Bad Name", "UPPER", "-leading-dash", "", "x" * 65, "a/b"])
def test_hardware_bad_name_is_invalid_argument(client, name):
    with pytest.raises(lutnas.InvalidArgument) as e:
        client.register_hardware(dict(TEST_HW, name=name))
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "name" in e.value.details


def test_unknown_names_are_not_found(client):
    arch = _arch(24)
    with pytest.raises(lutnas.NotFound):
        client.predict(arch, ["no-such-hw"])
    with pytest.raises(lutnas.NotFound):
        client.upload_table({"hardware": "no-such-hw"},
                            _entries(["conv:o16,k3,s2,g1,relu@3x32x32"], 1.0))
    with pytest.raises(lutnas.NotFound):
        client.export_table("no-such-hw")
    with pytest.raises(lutnas.NotFound):
        client.get_job(987654)
    with pytest.raises(lutnas.NotFound):
        client.get_candidate(987654)


def test_table_upload_export_versions(client):
    hw = TEST_HW["name"]
    client.register_hardware(TEST_HW)
    arch = _arch(24)
    pred = _breakdown(client, arch, hw)
    assert pred.table_version == 0 and pred.estimated_from_spec
    keys = _unique_keys(pred)
    extra = [k for k in _unique_keys(_breakdown(client, _arch(40), hw)) if k not in keys]
    assert extra, "a wider network should have other keys"
    failed = PB.table_pb2.LatencyEntry(key=extra[0], status=PB.table_pb2.ENTRY_FAILED,
                                       error="unsupported, by the test")
    v1_entries = _entries(keys, 0.125) + [failed]
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

    v2_entries = _entries(keys, 0.25)
    info = client.upload_table(info_in, v2_entries)
    assert info.version == 2
    assert sorted(t.version for t in client.list_tables(hw)) == [1, 2]
    assert all(t.hardware == hw for t in client.list_tables(hw))
    assert {(t.hardware, t.version) for t in client.list_tables(hw)} <= {
        (t.hardware, t.version) for t in client.list_tables()}
    assert _by_key(client.export_table(hw, version=1)[1]) == _by_key(v1_entries)  # history kept
    assert _by_key(client.export_table(hw)[1]) == _by_key(v2_entries)

    # Prediction now reads the latest table: every block measured.
    pred = _breakdown(client, arch, hw)
    median = {e.key: e.median_ms for e in v2_entries}
    assert pred.table_version == 2
    assert not pred.estimated_from_spec and pred.measured_fraction == 1.0
    assert all(b.source == PB.table_pb2.SOURCE_MEASURED for b in pred.blocks)
    assert [b.latency_ms for b in pred.blocks] == [median[b.key] for b in pred.blocks]
    assert pred.sum_ms == pytest.approx(sum(median[b.key] for b in pred.blocks), rel=1e-9)


def test_predict_mobilenet_v2(client):
    resp = client.predict(load_json("models/mobilenet_v2.json"), ["host-cpu"])
    assert resp.params == 3504872
    (p,) = resp.predictions
    assert p.hardware == "host-cpu"
    assert p.estimated_from_spec == (p.table_version == 0)
    if p.table_version == 0:
        assert p.measured_fraction == 0.0
    inspect = lutnasd_path().parent / "lutnas-inspect"
    if inspect.exists():  # the same core library must give the same numbers
        import json as _json

        out = subprocess.run([str(inspect), str(ROOT / "models/mobilenet_v2.json"), "--json"],
                             capture_output=True, text=True, check=True).stdout
        ref = _json.loads(out)
        assert (resp.arch_hash, resp.macs, resp.mac_bytes) == (
            ref["hash"], ref["macs"], ref["mac_bytes"])


def test_predict_batch_in_order(client):
    res = client.predict_batch([load_json("models/mobilenet_v2.json"),
                                load_json("models/resnet18.json")], ["host-cpu"])
    assert [r.params for r in res] == [3504872, 11689512]
    assert all(len(r.predictions) == 1 for r in res)


def test_predict_invalid_arch_names_the_field(client):
    bad = dict(_arch(24), resolution=4)
    with pytest.raises(lutnas.InvalidArgument) as e:
        client.predict(bad, ["host-cpu"])
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "resolution" in e.value.details


# ---------------------------------------------------------------- search

SEARCH_HW = dict(TEST_HW, name="pytest-search", channel_alignment=8)


def _search_spec(**over):
    spec = {"name": "pytest-tiny", "space": "tiny", "algorithm": "EVOLUTION",
            "objective": "PARAMS", "population": 8, "sample_size": 4, "generations": 2,
            "seed": 7, "budgets": [{"hardware": SEARCH_HW["name"], "max_ms": 1000.0}],
            "report_hardware": ["host-cpu"]}
    spec.update(over)
    return spec


@pytest.fixture(scope="module")
def searched(module_client):
    """One finished PARAMS search on the tiny space, budget on a hardware
    with an uploaded table (shared by the tests below)."""
    c = module_client
    c.register_hardware(SEARCH_HW)
    keys = []
    for width, res in ((16, 64), (24, 96)):
        keys += _unique_keys(_breakdown(c, _arch(width, resolution=res), SEARCH_HW["name"]))
    table = c.upload_table({"hardware": SEARCH_HW["name"], "tool": "pytest", "space": "tiny"},
                           _entries(list(dict.fromkeys(keys)), 0.01))
    job = c.submit(_search_spec())
    events = list(c.watch(job.id, timeout=300))
    return types.SimpleNamespace(client=c, job=job, events=events, table=table)


def test_search_runs_to_completion(searched):
    c, job, events = searched.client, searched.job, searched.events
    assert job.id > 0
    assert job.state in (PB.service_pb2.JOB_QUEUED, PB.service_pb2.JOB_RUNNING,
                         PB.service_pb2.JOB_SUCCEEDED)
    assert job.spec.population == 8 and job.spec.space == "tiny"
    final = events[-1]
    assert PB.service_pb2.JobState.Name(final.state) == "JOB_SUCCEEDED", final.error
    evaluated = [e.progress.evaluated for e in events]
    assert evaluated == sorted(evaluated)
    assert final.progress.evaluated == 8 * (1 + 2)
    assert final.progress.generations == 2
    assert c.get_job(job.id).state == PB.service_pb2.JOB_SUCCEEDED
    assert job.id in [j.id for j in c.list_jobs()]
    # The budget's table version is pinned at submit time.
    assert c.get_job(job.id).spec.budgets[0].table_version in (0, searched.table.version)


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
    assert 1 <= total <= 24
    assert pages == -(-total // 5)
    assert ids == sorted(ids)  # default order: id
    assert [x.id for x in c.iter_candidates(job_id=job.id, page_size=3)] == ids


def test_candidates_filters_and_order(searched):
    c, job = searched.client, searched.job
    all_c = list(c.iter_candidates(job_id=job.id))
    hw = SEARCH_HW["name"]
    for cand in all_c:
        lat = {p.hardware: p for p in cand.latency}
        assert set(lat) == {hw, "host-cpu"}
        assert cand.feasible == (lat[hw].latency_ms <= 1000.0)
        assert cand.params > 0 and cand.macs > 0 and cand.arch_hash
    by_params = [x.params for x in c.iter_candidates(job_id=job.id, order_by="params",
                                                     descending=True)]
    assert by_params == sorted(by_params, reverse=True)
    assert sorted(by_params) == sorted(x.params for x in all_c)
    pareto = list(c.iter_candidates(job_id=job.id, pareto_only=True))
    assert pareto and all(x.pareto for x in pareto)
    assert {x.id for x in pareto} == {x.id for x in all_c if x.pareto}
    cap = sorted(x.params for x in all_c)[len(all_c) // 2]
    capped = list(c.iter_candidates(job_id=job.id, max_params=cap))
    assert {x.id for x in capped} == {x.id for x in all_c if x.params <= cap}
    lats = sorted(next(p.latency_ms for p in x.latency if p.hardware == hw) for x in all_c)
    limit = lats[len(lats) // 2]
    fast = list(c.iter_candidates(job_id=job.id, hardware=hw, max_latency_ms=limit))
    assert {x.id for x in fast} == {
        x.id for x in all_c
        if next(p.latency_ms for p in x.latency if p.hardware == hw) <= limit}


def test_get_candidate_has_breakdown(searched):
    c = searched.client
    first = next(c.iter_candidates(job_id=searched.job.id))
    got = c.get_candidate(first.id)
    assert (got.id, got.arch_hash, got.params, got.score) == (
        first.id, first.arch_hash, first.params, first.score)
    assert got.arch.resolution in (64, 96)
    assert all(p.blocks for p in got.latency)


def test_export_json_is_the_architecture(searched):
    import json as _json

    c = searched.client
    first = next(c.iter_candidates(job_id=searched.job.id))
    resp = c.export_candidate(first.id, "json")
    arch = lutnas.to_message(_json.loads(resp.content), PB.arch_pb2.Architecture)
    assert c.predict(arch).arch_hash == first.arch_hash
    assert resp.filename.endswith(".json")


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


def test_cancel_running_job(module_client):
    c = module_client
    job = c.submit(_search_spec(name="pytest-cancel", budgets=[], population=100,
                                sample_size=10, generations=2000))
    c.cancel(job.id)
    states = [j.state for j in c.watch(job.id, timeout=60)]
    assert states[-1] == PB.service_pb2.JOB_CANCELLED
    assert c.get_job(job.id).state == PB.service_pb2.JOB_CANCELLED


def test_ask_tell_external_objective(module_client):
    c = module_client
    job = c.submit(_search_spec(name="pytest-external", objective="EXTERNAL", budgets=[],
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
        scores = {a.arch_hash: float(a.params % 997) for a in asked}
        assert c.tell(job.id, scores) == len(scores)
        told.update(scores)
    final = c.get_job(job.id)
    assert final.state == PB.service_pb2.JOB_SUCCEEDED, final.error
    assert told
    for cand in c.iter_candidates(job_id=job.id):
        assert cand.score == told[cand.arch_hash]


def test_watch_unknown_job_is_not_found(module_client):
    with pytest.raises(lutnas.NotFound):
        list(module_client.watch(987654, timeout=10))


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
