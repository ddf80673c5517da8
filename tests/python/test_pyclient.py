"""The typed Python API (issue 13): result objects, keyword filters, wait(),
export_onnx(), plot_pareto(), idempotent submit, feasibility at submit, and
one test per defect a new user met. Everything runs against the real lutnasd
(conftest's Daemon), on a hardware of its own with an uploaded table."""

import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import PB, ROOT, Daemon, finish, hardware_with_table, tiny_arch

import lutnas
from lutnas import results, tablefile
from lutnas.messages import to_message

HW = "pyclient-hw"


def spec(**over):
    s = {"name": "pyclient", "space": "tiny", "algorithm": "evolution", "objective": "params",
         "population": 8, "sample_size": 4, "generations": 2, "seed": 3,
         "budgets": [{"hardware": HW, "max_ms": 0.3}]}
    s.update(over)
    return s


@pytest.fixture(scope="module")
def c(module_client):
    hardware_with_table(module_client, HW)
    return module_client


@pytest.fixture(scope="module")
def done_job(c):
    job = c.submit(spec(name="pyclient-done"))
    return c.wait(job.id, timeout=300)


# ------------------------------------------------------------ result objects
def test_enums_mirror_the_proto():
    for cls, enum in ((results.JobState, PB.service_pb2.JobState),
                      (results.Algorithm, PB.service_pb2.Algorithm),
                      (results.Objective, PB.service_pb2.Objective),
                      (results.EntryStatus, PB.table_pb2.EntryStatus),
                      (results.LatencySource, PB.table_pb2.LatencySource)):
        assert {m.name: m.value for m in cls} == dict(enum.items()), cls.__name__


def test_job_result_keeps_proto_names_and_adds_enums(c, done_job):
    job = done_job
    assert isinstance(job, lutnas.Job)
    assert job.state == PB.service_pb2.JOB_SUCCEEDED  # IntEnum == generated int
    assert job.state is lutnas.JobState.JOB_SUCCEEDED and job.state.label == "succeeded"
    assert job.done and job.state.terminal
    assert job.spec.algorithm is lutnas.Algorithm.EVOLUTION
    assert job.spec.objective.label == "params"
    assert job.spec.budgets[0].hardware == HW and job.spec.budgets[0].table_version >= 1
    assert job.progress.generation == job.progress.generations == 2
    assert job.progress.fraction == 1.0
    assert isinstance(job.proto, PB.service_pb2.Job) and job.proto.id == job.id
    assert job.HasField("progress")  # methods of the message pass through
    d = job.to_dict()
    assert d["state"] == "JOB_SUCCEEDED" and d["id"] == str(job.id)
    assert job == c.get_job(job.id) and job == job.proto
    assert repr(job).startswith(f"Job(id={job.id}, spec=SearchSpec(")


def test_unknown_fields_fall_back_to_the_message():
    msg = PB.service_pb2.Job(id=4, state=PB.service_pb2.JOB_RUNNING)
    job = results.Job(msg)
    # No Job wrapper property exists for these: read through the message.
    assert job.created_unix_ms == 0 and job.ByteSize() == msg.ByteSize()
    with pytest.raises(AttributeError, match="no_such_field"):
        job.no_such_field  # noqa: B018
    job.error = "set through"  # writes land on the message
    assert msg.error == "set through"


def test_terminal_states_are_job_states():
    assert lutnas.TERMINAL_STATES == (lutnas.JobState.JOB_SUCCEEDED, lutnas.JobState.JOB_FAILED,
                                      lutnas.JobState.JOB_CANCELLED)
    assert PB.service_pb2.JOB_FAILED in lutnas.TERMINAL_STATES


def test_predict_result_helpers(c):
    r = c.predict(tiny_arch(), [HW], breakdown=True)
    assert isinstance(r, lutnas.PredictResponse)
    assert r.latency_ms == r.predictions[0].latency_ms == r.on(HW).latency_ms
    assert r.predictions[0].blocks[0].source in set(lutnas.LatencySource)
    assert abs(r.on(HW).block_sum() - r.predictions[0].sum_ms) < 1e-9
    with pytest.raises(KeyError, match="no prediction for 'nope'"):
        r.on("nope")


# ------------------------------------------------------------ filters, pages, wait, watch
def test_list_candidates_takes_keywords_only(c, done_job):
    with pytest.raises(TypeError):
        c.list_candidates(done_job.id)  # positional: refused
    with pytest.raises(TypeError):
        c.list_candidates(job=done_job.id)  # misspelled filter: refused, not ignored
    page = c.list_candidates(job_id=done_job.id, page_size=3)
    assert isinstance(page, lutnas.CandidatePage) and len(page.candidates) == 3
    assert page.total >= 8 and page.next_page_token
    every = list(c.iter_candidates(job_id=done_job.id, page_size=3))
    assert len(every) == page.total and len({x.id for x in every}) == page.total
    assert all(isinstance(x, lutnas.Candidate) for x in every)


def test_watch_yields_progress_and_wait_returns_the_end(c):
    job = c.submit(spec(name="pyclient-watch", generations=3))
    seen = list(c.watch(job.id, timeout=300))
    assert all(isinstance(j, lutnas.Job) for j in seen)
    assert seen[-1].state is lutnas.JobState.JOB_SUCCEEDED
    gens = [j.progress.generation for j in seen]
    assert gens == sorted(gens) and gens[-1] == 3
    snapshots = []
    final = c.wait(job.id, timeout=60, on_progress=snapshots.append)
    assert final.state is lutnas.JobState.JOB_SUCCEEDED and final.spec.name == "pyclient-watch"
    assert snapshots and snapshots[-1].state.terminal


def test_wait_times_out_on_a_long_job(c):
    job = c.submit(spec(name="pyclient-long", population=100, sample_size=10, generations=5000))
    t0 = time.monotonic()
    with pytest.raises(lutnas.DeadlineExceeded, match=f"job {job.id} still "):
        c.wait(job.id, timeout=1.0)
    assert time.monotonic() - t0 < 10
    assert c.cancel(job.id).state in (lutnas.JobState.JOB_CANCELLED, lutnas.JobState.JOB_RUNNING)


def test_export_onnx_and_plot_pareto(c, done_job, tmp_path):
    pytest.importorskip("torch")
    best = next(c.iter_candidates(job_id=done_job.id, pareto_only=True))
    path = c.export_onnx(best.id, tmp_path / "best.onnx")
    data = path.read_bytes()
    assert len(data) > 1000 and b"logits" in data and b"input" in data
    with pytest.raises(lutnas.InvalidArgument, match="export_onnx"):
        c.export_candidate(best.id, "onnx")
    pytest.importorskip("matplotlib")
    plot = c.plot_pareto(done_job.id, tmp_path / "pareto.png")
    assert plot.hardware == HW and plot.path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot.front and all(f.feasible for f in plot.front)
    assert len(plot.points) == c.list_candidates(job_id=done_job.id, hardware=HW).total


# ------------------------------------------------------------ idempotent submit
def test_same_request_id_returns_the_same_job(c):
    first = c.submit(spec(name="pyclient-idem"), request_id="pyclient-idem-1")
    again = c.submit(spec(name="pyclient-idem"), request_id="pyclient-idem-1")
    assert again.id == first.id
    assert [j.id for j in c.list_jobs() if j.spec.name == "pyclient-idem"] == [first.id]
    with pytest.raises(lutnas.AlreadyExists, match=f"already submitted job {first.id} with a "
                                                   "different spec"):
        c.submit(spec(name="pyclient-idem", seed=99), request_id="pyclient-idem-1")
    with pytest.raises(lutnas.InvalidArgument, match="^request_id: only letters"):
        c.submit(spec(), request_id="bad id with spaces")


def test_retry_after_deadline_exceeded_starts_no_second_job(c):
    s = spec(name="pyclient-retry")
    with pytest.raises(lutnas.DeadlineExceeded):
        c.submit(s, request_id="pyclient-retry-1", timeout=1e-6)
    job = c.submit(s, request_id="pyclient-retry-1")
    assert [j.id for j in c.list_jobs() if j.spec.name == "pyclient-retry"] == [job.id]
    auto = c.submit(spec(name="pyclient-retry-auto"), retries=2)  # makes up an id
    assert auto.state in (lutnas.JobState.JOB_QUEUED, lutnas.JobState.JOB_RUNNING,
                          lutnas.JobState.JOB_SUCCEEDED)


def test_request_id_survives_a_daemon_restart(tmp_path):
    d = Daemon(tmp_path / "d").start()
    try:
        with lutnas.Client(d.target) as c:
            hardware_with_table(c, HW)
            first = c.submit(spec(name="pyclient-restart"), request_id="restart-1")
        assert d.stop() == 0
        d.start()
        with lutnas.Client(d.target) as c:
            again = c.submit(spec(name="pyclient-restart"), request_id="restart-1")
            assert again.id == first.id
            assert len([j for j in c.list_jobs() if j.spec.name == "pyclient-restart"]) == 1
    finally:
        d.stop()


# ------------------------------------------------------------ feasibility at submit
def test_spec_without_budget_or_cap_is_refused_unless_unconstrained(c):
    n = len(c.list_jobs())
    with pytest.raises(lutnas.InvalidArgument,
                       match=r"^spec\.budgets: no latency budget and no max_params/max_macs cap"):
        c.submit(spec(budgets=[]))
    assert len(c.list_jobs()) == n
    job = c.submit(spec(name="pyclient-free", budgets=[], unconstrained=True))
    assert job.spec.unconstrained and not job.spec.budgets
    capped = c.submit(spec(name="pyclient-cap", budgets=[], max_params=10**9))
    assert capped.spec.max_params == 10**9
    with pytest.raises(lutnas.InvalidArgument, match=r"^spec\.unconstrained: true contradicts"):
        c.submit(spec(unconstrained=True))


def test_impossible_budget_is_refused_at_submit(c):
    n = len(c.list_jobs())
    with pytest.raises(lutnas.FailedPrecondition) as e:
        c.submit(spec(budgets=[{"hardware": HW, "max_ms": 1e-6}]))
    msg = str(e.value)
    assert msg.startswith("spec.budgets[0].max_ms: no architecture of space 'tiny' meets the "
                          "budget: the fastest of 160 samples needs "), msg
    fastest = float(re.search(r"needs ([0-9.e+-]+) ms", msg).group(1))
    assert fastest > 1e-6 and f"on {HW} (table v" in msg and "limit 1e-06 ms" in msg
    assert len(c.list_jobs()) == n  # nothing stored
    with pytest.raises(lutnas.FailedPrecondition, match=r"^spec\.max_params: .*smallest of 160 "
                                                        r"samples has \d+ params \(limit 10\)"):
        c.submit(spec(max_params=10))
    # A budget between the fastest sample and the rest is accepted.
    assert c.submit(spec(name="pyclient-tight", budgets=[{"hardware": HW,
                                                          "max_ms": fastest * 1.01}])).id


# ------------------------------------------------------------ the defects of issue 13
def test_stored_candidates_carry_memory_access(c, done_job):
    cand = next(c.iter_candidates(job_id=done_job.id))
    assert cand.mac_bytes > 0
    r = c.predict(cand.arch, [HW])
    assert cand.mac_bytes == r.mac_bytes and cand.macs == r.macs and cand.params == r.params
    assert c.get_candidate(cand.id).mac_bytes == r.mac_bytes


def test_order_by_latency_with_a_hardware_and_no_bound(c, done_job):
    page = c.list_candidates(job_id=done_job.id, order_by="latency", hardware=HW, page_size=100)
    lat = [x.latency_on(HW) for x in page.candidates]
    assert len(lat) == page.total >= 8 and lat == sorted(lat)
    bounded = c.list_candidates(job_id=done_job.id, hardware=HW, max_latency_ms=lat[2])
    assert bounded.total >= 3 and all(x.latency_on(HW) <= lat[2] for x in bounded.candidates)
    with pytest.raises(lutnas.InvalidArgument, match="max_latency_ms: must be >= 0"):
        c.list_candidates(hardware=HW, max_latency_ms=-1)


def test_dict_specs_take_enum_names_in_any_case(c):
    job = c.submit(spec(name="pyclient-lower", algorithm="nsga2", objective="params"))
    assert job.spec.algorithm is lutnas.Algorithm.NSGA2
    assert to_message({"stem": [{"conv": {"out_channels": 8, "act": "relu6"}}]},
                      PB.arch_pb2.Architecture).stem[0].conv.act == PB.arch_pb2.RELU6
    with pytest.raises(lutnas.InvalidArgument,
                       match=r"^spec\.algorithm: unknown Algorithm 'nsga3' \(values: "):
        c.submit(spec(algorithm="nsga3"))


def test_misspelled_fields_are_named_in_snake_case(c):
    arch = tiny_arch()
    arch["stages"][0]["blocks"][1]["conv"]["out_chanels"] = 8
    with pytest.raises(lutnas.InvalidArgument) as e:
        c.predict(arch, [HW])
    assert str(e.value).startswith("arch.stages[0].blocks[1].conv.out_chanels: unknown field of "
                                   "ConvBnAct; did you mean 'out_channels'? (fields: out_channels, ")
    assert "outChannels" not in str(e.value)
    with pytest.raises(lutnas.InvalidArgument, match=r"^spec\.budgets\[0\]\.max_sm: .*'max_ms'"):
        c.submit(spec(budgets=[{"hardware": HW, "max_sm": 1}]))


def test_write_csv_takes_export_table_output(c):
    info, entries = c.export_table(HW)
    out = io.StringIO()
    tablefile.write_csv(entries, out, info=info)
    back_info, back = tablefile.read_csv_table(out.getvalue())
    assert back_info["hardware"] == HW and back_info["version"] == info.version
    assert [e["key"] for e in back] == [e.key for e in entries]
    assert [e["median_ms"] for e in back] == [e.median_ms for e in entries]


def test_hardware_doc_cross_device_budgets_have_tables(c):
    """docs/hardware.md's cross-device example: every --budget names a device
    the same example gives a table first, and the NPU budget is accepted."""
    text = (ROOT / "docs" / "hardware.md").read_text()
    block = text[text.index("## Cross-device search"):]
    block = block[:block.index("\n## ", 5)] if "\n## " in block[5:] else block
    budgets = re.findall(r"--budget ([a-z0-9-]+)=([0-9.]+)", block)
    assert budgets
    for hw, _ in budgets:
        assert re.search(rf"(table import \S+ --hardware {hw}\b|lutnas-profile table .*--hardware "
                         rf"{hw}\b)", block), f"{hw} gets no table before its budget"
    imp = re.search(r"lutnas table import (\S+) --hardware rk3588-npu --format ofa", block)
    c.import_table("rk3588-npu", content=(ROOT / imp.group(1)).read_bytes(), format="ofa")
    npu_ms = float(dict(budgets)["rk3588-npu"])
    job = c.submit(spec(name="pyclient-doc", budgets=[{"hardware": "rk3588-npu",
                                                        "max_ms": npu_ms}]))
    assert job.spec.budgets[0].hardware == "rk3588-npu"


def test_entry_points_find_the_tools():
    from lutnas.measure import profile

    with pytest.raises(ValueError, match="exactly one of out and server"):
        profile.measure_table("search/spaces/tiny.json", "host-cpu")
    with pytest.raises(ValueError, match="samples must be >= 3"):
        profile.validate("search/spaces/tiny.json", "t.csv", samples=2)
    with pytest.raises(lutnas.tools.ToolError, match="no-such.json"):
        profile.measure([ROOT / "no-such.json"])


def test_package_is_typed():
    assert (ROOT / "clients" / "python" / "lutnas" / "py.typed").is_file()
    r = subprocess.run([sys.executable, "-c", "import lutnas, json; print(lutnas.JobState(3))"],
                       cwd=ROOT / "clients" / "python", capture_output=True, text=True)
    assert r.stdout.strip() == "JOB_SUCCEEDED", r.stderr


def test_a_script_that_dies_leaves_no_daemon_running(tmp_path):
    """lutnas.daemon.Daemon stops its lutnasd at interpreter exit, also when
    the script raised before calling stop()."""
    script = tmp_path / "dies.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parents[2] / 'clients' / 'python')!r})\n"
        "from lutnas.daemon import Daemon\n"
        f"d = Daemon({str(tmp_path / 'd.db')!r}).start()\n"
        "print(d._proc.pid, flush=True)\n"
        "raise RuntimeError('the script failed')\n")
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "the script failed" in r.stderr
    pid = int(r.stdout.split()[0])
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
