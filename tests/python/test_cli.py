"""The lutnas CLI: argument parsing, table files, rendering and plots (no
daemon), then every command in-process against a real lutnasd, and a smoke run
of scripts/lutnas against it."""

import io
import json
import re
import subprocess
import sys
import types

import pytest

import lutnas
from lutnas.cli import _main as cli
from lutnas import render, tablefile
from lutnas.plot import pareto_front, plot_pareto
from conftest import (PB, ROOT, block_keys, finish, hardware_with_table, load_json, run_cli,
                      measured_entries, spec_hardware, tiny_arch)

LUTNAS = str(ROOT / "scripts" / "lutnas")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# ============================================================ arguments


@pytest.mark.parametrize("text,want", [
    ("host-cpu=8", ("host-cpu", 8.0, 0)),
    ("rk3588-npu=2.5@3", ("rk3588-npu", 2.5, 3)),
    (" hw2 =20", ("hw2", 20.0, 0)),
])
def test_parse_budget(text, want):
    assert cli.parse_budget(text) == want


@pytest.mark.parametrize("text", ["host-cpu", "=8", "hw=", "hw=0", "hw=-1", "hw=x", "hw=8@x",
                                  "hw=8@-1"])
def test_parse_budget_rejects(text):
    with pytest.raises(Exception) as e:
        cli.parse_budget(text)
    assert "HARDWARE=MAX_MS" in str(e.value)


def _spec(argv):
    args = cli.build_parser().parse_args(argv)
    return lutnas.to_dict(cli.build_spec(args, PB), defaults=False)


def test_build_spec_from_flags():
    got = _spec(["search", "submit", "--space", "tiny", "--budget", "host-cpu=8",
                 "--budget", "hw2=20@4", "--algorithm", "nsga2", "--objective", "params",
                 "--population", "8", "--generations", "2", "--sample-size", "4", "--seed", "9",
                 "--max-params", "2M", "--max-macs", "300k", "--soft", "--soft-weight", "-0.1",
                 "--name", "demo", "--report-hardware", "a,b", "--report-hardware", "c",
                 "--max-runtime", "60"])
    assert got == {
        "name": "demo", "space": "tiny", "algorithm": "NSGA2", "objective": "PARAMS",
        "budgets": [{"hardware": "host-cpu", "max_ms": 8.0},
                    {"hardware": "hw2", "max_ms": 20.0, "table_version": "4"}],
        "max_params": "2000000", "max_macs": "300000", "population": 8, "sample_size": 4,
        "generations": 2, "seed": "9", "soft_constraint": True, "soft_weight": -0.1,
        "report_hardware": ["a", "b", "c"], "max_runtime_s": 60.0}


def test_build_spec_defaults_are_left_to_the_daemon():
    assert _spec(["search", "submit", "--space", "edge"]) == {"space": "edge"}


def test_build_spec_inline_space_and_spec_file(tmp_path):
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps({"name": "from-file", "space": "edge", "population": 50,
                                     "budgets": [{"hardware": "a", "max_ms": 1}]}))
    got = _spec(["search", "submit", "--spec", str(spec_file), "--space",
                 str(ROOT / "search/spaces/tiny.json"), "--population", "8", "--budget", "b=2"])
    assert "space" not in got
    assert got["space_inline"]["name"] == "tiny"
    assert got["population"] == 8 and got["name"] == "from-file"
    assert [b["hardware"] for b in got["budgets"]] == ["a", "b"]


@pytest.mark.parametrize("argv", [
    ["search", "submit", "--space", "tiny", "--budget", "nope"],
    ["search", "submit", "--budget", "hw=3"],  # no space
    ["search", "submit", "--space", "tiny", "--algorithm", "annealing"],
    ["search", "submit", "--space", "tiny", "--population", "0"],
    ["search", "submit", "--space", "tiny", "--max-params", "lots"],
    ["candidates", "list", "--max-latency", "5"],  # needs --hardware
    ["candidates", "list", "--sort", "latency"],
    ["export", "3", "--format", "tflite"],
    ["hardware"],
    ["frobnicate"],
])
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--server", "127.0.0.1:1", *argv])
    assert e.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_no_command_prints_help_and_exits_2(capsys):
    assert cli.main([]) == 2
    assert "usage: lutnas" in capsys.readouterr().err


def test_server_default_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("LUTNAS_SERVER", "10.0.0.7:5000")
    assert cli.build_parser().parse_args(["search", "list"]).server == "10.0.0.7:5000"
    monkeypatch.delenv("LUTNAS_SERVER")
    assert cli.build_parser().parse_args(["search", "list"]).server == "127.0.0.1:50051"


# ============================================================ table files

ENTRIES = [
    {"key": "conv:o16,k3,s2,g1,relu@3x64x64", "median_ms": 0.125, "iqr_ms": 0.01,
     "p10_ms": 0.11, "p90_ms": 0.14, "samples": 50, "status": "ENTRY_MEASURED", "error": ""},
    {"key": "mbconv:o24,e3,k3,s2,se0,relu6@16x32x32", "median_ms": 1 / 3, "iqr_ms": 1e-7,
     "p10_ms": 0.3, "p90_ms": 2.0, "samples": 7, "status": "ENTRY_MEASURED", "error": ""},
    {"key": "shuffle:o48,k3,s1,relu@48x8x8", "median_ms": 0.0, "iqr_ms": 0.0, "p10_ms": 0.0,
     "p90_ms": 0.0, "samples": 0, "status": "ENTRY_FAILED",
     "error": 'rknn: "unsupported op", code 3'},
]


def test_csv_writer_keeps_one_record_per_line():
    e = dict(ENTRIES[2], error="first line\nsecond line\r\nthird")
    text = tablefile.csv_text([e])
    assert len(text.splitlines()) == 2
    assert tablefile.read_csv(text)[1][0]["error"] == "first line second line third"


def test_csv_round_trip():
    text = tablefile.csv_text(ENTRIES, hardware="rk3588-npu")
    lines = text.splitlines()
    assert lines[0] == "# hardware: rk3588-npu"
    assert lines[1] == "key,median_ms,iqr_ms,p10_ms,p90_ms,samples,status,error"
    assert lines[2] == '"conv:o16,k3,s2,g1,relu@3x64x64",0.125,0.01,0.11,0.14,50,measured,'
    hw, got = tablefile.read_csv(text)
    assert hw == "rk3588-npu"
    assert got == ENTRIES


def test_csv_round_trip_through_messages():
    msgs = [lutnas.to_message(e, PB.table_pb2.LatencyEntry) for e in ENTRIES]
    text = tablefile.csv_text([lutnas.to_dict(m) for m in msgs])
    hw, got = tablefile.read_csv(text)
    assert hw is None
    assert [lutnas.to_message(e, PB.table_pb2.LatencyEntry) for e in got] == msgs


def test_csv_reader_comments_blank_lines_and_partial_columns():
    text = ("# hardware: host-cpu\n# measured by hand\n\nkey,median_ms,status\n"
            '"conv:o8,k3,s1,g1,relu@3x8x8",1.5,measured\n# a comment in the middle\n'
            '"pool:max,k3,s2@8x8x8",0.25,FAILED\n')
    hw, got = tablefile.read_csv(text)
    assert hw == "host-cpu"
    assert [(e["key"], e["median_ms"], e["status"], e["samples"]) for e in got] == [
        ("conv:o8,k3,s1,g1,relu@3x8x8", 1.5, "ENTRY_MEASURED", 0),
        ("pool:max,k3,s2@8x8x8", 0.25, "ENTRY_FAILED", 0)]


def test_csv_correction_keeps_per_key_terms_and_type_factors():
    # the line lutnas-profile / lutnasd write (latency_models/table_io.cc)
    line = ("# correction: scale=0.85 offset_ms=0 fitted_on=60 mape_before=0.33 mape_after=0.03 "
            "method=type-factors key_ms_per_mparam=0.0176 key_overhead_ms=-0.0098 "
            "factor.basic=1.105 factor.head=0.97")
    text = "# lutnas latency table v1\n# hardware: host-openvino\n" + line + "\n" + \
        "key,median_ms,iqr_ms,p10_ms,p90_ms,samples,status,error\n" + \
        "conv:o16,k3,s2,g1,relu@3x64x64,0.084,0.0021,0.0821,0.0873,45,measured,\n"
    info, entries = tablefile.read_csv_table(text)
    corr = info["correction"]
    assert corr["key_ms_per_mparam"] == 0.0176 and corr["key_overhead_ms"] == -0.0098
    assert corr["type_factors"] == {"basic": 1.105, "head": 0.97}
    assert corr["method"] == "type-factors"
    assert line in tablefile.csv_text(entries, info=info).splitlines()


@pytest.mark.parametrize("text,match", [
    ("", "no header"),
    ("# only a comment\n", "no header"),
    ("median_ms\n1\n", "lacks column 'key'"),
    ("key,median_ms,speed\n", "unknown column"),
    ('key,median_ms\n"a",1,2\n', "line 2: 3 fields"),
    ('key,median_ms,status\n"a",1,maybe\n', "line 2: status 'maybe'"),
    ('# c\nkey,median_ms\n"a",fast\n', "line 3: median_ms 'fast'"),
    ('key,median_ms\n"",1\n', "line 2: empty key"),
])
def test_csv_reader_errors_name_the_line(text, match):
    with pytest.raises(tablefile.TableFileError, match=match):
        tablefile.read_csv(text)


def test_json_table_round_trip():
    table = {"info": {"hardware": "host-cpu", "version": "2"}, "entries": ENTRIES}
    buf = io.StringIO()
    tablefile.write_json(table, buf)
    info, entries = tablefile.read_json(buf.getvalue())
    assert info == table["info"] and entries == ENTRIES
    with pytest.raises(tablefile.TableFileError):
        tablefile.read_json("[1, 2]")
    with pytest.raises(tablefile.TableFileError):
        tablefile.read_json("{oops")


# ============================================================ rendering


def test_table_alignment():
    out = render.table(["name", "ms", "note"], [["a", "1.500", "x"], ["longer", "12.250 est", ""]])
    assert out.splitlines() == [
        "name            ms  note",
        "a            1.500  x",
        "longer  12.250 est",
    ]


@pytest.mark.parametrize("fraction,from_spec,cell", [
    (1.0, False, "1.250"),             # every block measured: no mark
    (0.62, False, "1.250 est (62% measured)"),   # partly measured, the rest estimated
    (0.996, False, "1.250 est (99% measured)"),  # never rounded up to look fully measured
    (0.0, False, "1.250 est (0% measured)"),     # a table, but none of these blocks in it
    (0.0, True, "1.250 spec"),         # no table: the device's published peaks
])
def test_latency_cell_marks_measured_and_estimated(fraction, from_spec, cell):
    pred = PB.table_pb2.Prediction(hardware="h", latency_ms=1.25, measured_fraction=fraction,
                                   estimated_from_spec=from_spec)
    assert cli._latency_cell(pred) == cell


@pytest.mark.parametrize("n,text", [(950, "950"), (12345, "12.35k"), (3504872, "3.505M"),
                                    (1814073344, "1.814G"), (0, "0")])
def test_count(n, text):
    assert render.count(n) == text


@pytest.mark.parametrize("text,n", [("123", 123), ("500k", 500000), ("2M", 2000000),
                                    ("1.5G", 1500000000), ("2.5m", 2500000)])
def test_parse_count(text, n):
    assert render.parse_count(text) == n


def _job(state, gen, evaluated, generations=2, population=4):
    job = PB.service_pb2.Job(id=5, state=PB.service_pb2.JobState.Value(state))
    job.spec.population = population
    job.progress.generation = gen
    job.progress.generations = generations
    job.progress.evaluated = evaluated
    return job


def test_plain_progress_when_piped_prints_one_line_per_generation():
    buf = io.StringIO()
    bar = render.PlainProgress("job 5", buf)
    for job in (_job("JOB_RUNNING", 0, 4), _job("JOB_RUNNING", 0, 4), _job("JOB_RUNNING", 1, 8),
                _job("JOB_SUCCEEDED", 2, 12)):
        bar.update(job)
    bar.close()
    lines = buf.getvalue().splitlines()
    assert len(lines) == 3
    assert "\r" not in buf.getvalue()
    assert lines[0].startswith("job 5 running") and "  0%" in lines[0]
    assert "gen 1/2" in lines[1] and "eval 8 " in lines[1] and " 50%" in lines[1]
    assert lines[2].startswith("job 5 succeeded") and "100%" in lines[2]


def test_plain_progress_on_a_terminal_redraws_in_place():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    buf = Tty()
    bar = render.PlainProgress("job 5", buf)
    bar.update(_job("JOB_RUNNING", 0, 4))
    bar.update(_job("JOB_RUNNING", 1, 8))
    bar.close()
    out = buf.getvalue()
    assert out.count("\r") == 2 and out.endswith("\n") and out.count("\n") == 1


# ============================================================ plots


def test_pareto_front():
    pts = [(1.0, 1.0), (2.0, 3.0), (1.5, 0.5), (3.0, 3.0), (0.5, 0.2), (4.0, 5.0), (2.0, 2.0)]
    assert pareto_front(pts) == [4, 0, 1, 5]
    assert pareto_front([]) == []


def test_plot_pareto_writes_a_png(tmp_path):
    out = tmp_path / "p.png"
    pts = [(0.1 * i, (i * 7919) % 13) for i in range(1, 40)]
    front = plot_pareto(pts, str(out), "host-cpu", budget_ms=2.0, title="t", infeasible=[3, 4])
    assert out.read_bytes().startswith(PNG_MAGIC)
    assert 3 not in front and 4 not in front and front


DAEMON_CSV = """# lutnas latency table v1
# hardware: host-cpu
# backend: libtorch-cpu
# precision: fp32
# threads: 1
# tool: lutnas-profile 0.1 (libtorch 1.13)
# space: tiny
# source: profile
# reference_ms: 0.5771
# correction: scale=1.11 offset_ms=-0.023 fitted_on=30 mape_before=0.088 mape_after=0.039
key,median_ms,iqr_ms,p10_ms,p90_ms,samples,status,error
conv:o16,k3,s2,g1,relu@3x64x64,0.0840,0.0021,0.0821,0.0873,45,measured,
conv:o16,k7,s1,g1,relu@3x64x64,,,,,0,failed,unsupported operator
"""


def test_csv_reader_takes_the_daemons_unquoted_keys_and_metadata():
    info, got = tablefile.read_csv_table(DAEMON_CSV)
    assert info == {
        "hardware": "host-cpu", "backend": "libtorch-cpu", "precision": "fp32", "threads": 1,
        "tool": "lutnas-profile 0.1 (libtorch 1.13)", "space": "tiny", "source": "profile",
        "reference_ms": 0.5771,
        "correction": {"scale": 1.11, "offset_ms": -0.023, "fitted_on": 30,
                       "mape_before": 0.088, "mape_after": 0.039}}
    assert got == [
        {"key": "conv:o16,k3,s2,g1,relu@3x64x64", "median_ms": 0.084, "iqr_ms": 0.0021,
         "p10_ms": 0.0821, "p90_ms": 0.0873, "samples": 45, "status": "ENTRY_MEASURED",
         "error": ""},
        {"key": "conv:o16,k7,s1,g1,relu@3x64x64", "median_ms": 0.0, "iqr_ms": 0.0,
         "p10_ms": 0.0, "p90_ms": 0.0, "samples": 0, "status": "ENTRY_FAILED",
         "error": "unsupported operator"}]
    assert tablefile.read_csv(DAEMON_CSV) == ("host-cpu", got)
    # Quoted and unquoted keys read the same.
    assert tablefile.read_csv_table(tablefile.csv_text(got, info=info)) == (info, got)


def test_csv_writer_with_info_writes_the_daemons_metadata():
    info = {"hardware": "rk3588-npu", "version": "3", "backend": "rknn", "threads": 3,
            "created_unix_ms": "1700000000000", "entries": "3", "failed": "1",
            "correction": {"scale": 1.25, "offset_ms": 0.5, "fitted_on": 0}}
    text = tablefile.csv_text(ENTRIES, info=info)
    assert text.splitlines()[:6] == [
        "# lutnas latency table v1", "# hardware: rk3588-npu", "# version: 3",
        "# backend: rknn", "# threads: 3",
        "# correction: scale=1.25 offset_ms=0.5 fitted_on=0 mape_before=0 mape_after=0"]
    got_info, got = tablefile.read_csv_table(text)
    assert got == ENTRIES
    assert got_info["version"] == 3 and got_info["correction"]["scale"] == 1.25


@pytest.mark.parametrize("text,match", [
    ("# threads: many\nkey,median_ms\n", "line 1: threads 'many'"),
    ("# x\n# correction: scale=2 speed=3\nkey,median_ms\n", "line 2: correction"),
    ("key,median_ms,samples\nconv:o16,k3,s2,g1,relu,1,2\n", "line 2: 7 fields"),
])
def test_csv_reader_metadata_and_key_errors(text, match):
    with pytest.raises(tablefile.TableFileError, match=match):
        tablefile.read_csv_table(text)


# ============================================================ against a real lutnasd


def run(target, *argv):
    """Runs the CLI in-process against target; returns (exit code, stdout, stderr)."""
    return run_cli(target, *argv)


def ok(target, *argv):
    code, out, err = run(target, *argv)
    assert code == 0, err
    return out, err


@pytest.fixture(scope="module")
def srv(module_daemon):
    return module_daemon.target


@pytest.fixture(scope="module")
def api(module_client):
    return module_client


CLI_HW = "cli-npu"
BUDGET_MS = 0.3


@pytest.fixture(scope="module")
def job(srv, api):
    """One finished search submitted and watched through the CLI: budget on a
    hardware with an uploaded table, spec-only hardware reported."""
    hardware_with_table(api, CLI_HW)
    out, _ = ok(srv, "search", "submit", "--space", "tiny", "--budget", f"{CLI_HW}={BUDGET_MS}",
                "--objective", "params", "--population", "8", "--generations", "2",
                "--sample-size", "4", "--seed", "3", "--name", "cli-job", "--report-hardware",
                "rk3588-npu")
    job_id = int(out)  # without --watch: the id alone
    _, final = finish(api, job_id)
    assert final.state == PB.service_pb2.JOB_SUCCEEDED, final.error
    cands = list(api.iter_candidates(job_id=job_id))
    assert cands
    return types.SimpleNamespace(id=job_id, final=final, cands=cands)


def test_hardware_commands(srv, api, tmp_path):
    out, _ = ok(srv, "hardware", "list")
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["name", "backend", "precision"]
    host = next(ln for ln in lines if ln.startswith("host-cpu "))
    assert host.split()[1:6] == ["libtorch-cpu", "fp32", "1", "0", "0"]  # no published figures
    out, _ = ok(srv, "hardware", "list", "--json")
    assert [h["name"] for h in json.loads(out)["hardware"]] == [h.name for h in api.list_hardware()]
    f = tmp_path / "npu.json"
    f.write_text(json.dumps({"name": "cli-hw-1", "backend": "rknn", "threads": 3,
                             "peak_gops": 100, "bandwidth_gbs": 10}))
    assert ok(srv, "hardware", "add", str(f)) == ("registered cli-hw-1\n", "")
    out, _ = ok(srv, "--json", "hardware", "show", "cli-hw-1")  # global --json
    assert json.loads(out)["threads"] == 3
    out, _ = ok(srv, "hardware", "show", "cli-hw-1")
    assert "backend" in out and "rknn" in out
    f.write_text(json.dumps({"name": "cli-hw-1", "backend": "tensorrt"}))
    assert ok(srv, "hardware", "add", str(f), "--update") == ("updated cli-hw-1\n", "")
    assert api.get_hardware("cli-hw-1").backend == "tensorrt"
    assert run(srv, "hardware", "delete", "cli-hw-1") == (0, "deleted cli-hw-1\n", "")
    assert "cli-hw-1" not in [h.name for h in api.list_hardware()]


def test_errors_print_the_daemons_details_and_exit_1(srv, api, tmp_path):
    with pytest.raises(lutnas.NotFound) as e:
        api.get_hardware("nope")
    assert run(srv, "hardware", "show", "nope") == (1, "", f"error: {e.value.details}\n")
    code, _, err = run(srv, "hardware", "add", str(tmp_path / "missing.json"))
    assert code == 1 and "missing.json" in err and "No such file" in err
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    code, _, err = run(srv, "hardware", "add", str(bad))
    assert code == 1 and err.startswith("error: ") and "not valid JSON" in err
    code, _, err = run(srv, "hardware", "add", str(ROOT / "models/resnet18.json"))
    assert code == 1 and err.startswith("error: hardware.resolution: unknown field")  # caught before sending
    bad.write_text(json.dumps({"name": "Bad Name"}))
    code, _, err = run(srv, "hardware", "add", str(bad))  # caught by the daemon
    assert code == 1 and err.startswith("error: ") and "name" in err
    assert len(err.splitlines()) == 1


def test_unreachable_server_is_one_error_line(capsys):
    assert cli.main(["--server", "127.0.0.1:1", "--timeout", "2", "search", "list"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "127.0.0.1:1" in err and len(err.splitlines()) == 1


def test_predict_output(srv, api):
    arch = str(ROOT / "models/mobilenet_v2.json")
    out, _ = ok(srv, "predict", arch, "--hardware", "rk3588-npu")
    assert "params 3,504,872 (3.505M)" in out
    header = [ln for ln in out.splitlines() if ln.startswith("hardware")][0]
    assert header.split() == ["hardware", "table", "latency", "ms", "sum", "ms", "measured"]
    (p,) = api.predict(load_json("models/mobilenet_v2.json"), ["rk3588-npu"]).predictions
    row = [ln for ln in out.splitlines() if ln.startswith("rk3588-npu")][0]
    assert row.split() == ["rk3588-npu", "spec", render.ms(p.latency_ms), render.ms(p.sum_ms),
                           "0%"]
    out, _ = ok(srv, "predict", arch, "--hardware", "rk3588-npu,atlas-200i-a2", "--breakdown")
    assert "stem[0]" in out and "stages[6].blocks[0]" in out and "roofline" in out
    assert "conv:o32,k3,s2,g1,relu6@3x224x224" in out and "atlas-200i-a2 (table -):" in out
    out, _ = ok(srv, "predict", arch, "--hardware", "rk3588-npu", "--json")
    doc = json.loads(out)
    assert doc["params"] == "3504872"
    assert doc["predictions"][0]["estimated_from_spec"] is True
    assert doc["predictions"][0]["table_version"] == "0"
    out, _ = ok(srv, "predict", arch)  # no hardware: costs only
    assert out.startswith("hash ") and len(out.splitlines()) == 1
    code, _, err = run(srv, "predict", arch, "--hardware", "rk3588-npu,nope")
    assert code == 1 and "nope" in err
    # host-cpu has neither a table nor published figures: an honest error.
    code, _, err = run(srv, "predict", arch, "--hardware", "host-cpu")
    assert code == 1 and "no latency table" in err and "host-cpu" in err


def test_predict_with_a_table(srv, api, job, tmp_path):
    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps(tiny_arch(16, 64)))  # every key is in CLI_HW's table
    out, _ = ok(srv, "predict", str(arch), "--hardware", f"{CLI_HW},rk3588-npu", "--breakdown")
    (p, spec) = api.predict(tiny_arch(16, 64), [CLI_HW, "rk3588-npu"]).predictions
    rows = {}
    for ln in out.splitlines():  # the summary rows come before the breakdowns
        if ln.startswith((CLI_HW + " ", "rk3588-npu ")):
            rows.setdefault(ln.split()[0], ln.split())
    assert rows[CLI_HW] == [CLI_HW, "v1", render.ms(p.latency_ms), render.ms(p.sum_ms), "100%"]
    assert rows["rk3588-npu"][1] == "spec" and rows["rk3588-npu"][-1] == "0%"
    assert f"{CLI_HW} (table 1):" in out and "measured" in out and "roofline" in out


def _table_entries(api, hw):
    keys = block_keys(api, [tiny_arch(16, 64), tiny_arch(24, 96)], hw)
    entries = [lutnas.to_dict(e) for e in measured_entries(keys[:-1], 0.0625)]
    entries.append({"key": keys[-1], "median_ms": 0.0, "iqr_ms": 0.0, "p10_ms": 0.0,
                    "p90_ms": 0.0, "samples": 0, "status": "ENTRY_FAILED",
                    "error": "rknn: unsupported op, code 3"})
    for e in entries:
        e["samples"] = int(e["samples"])
    return entries


def test_table_upload_export_import(srv, api, tmp_path):
    hw = "cli-tables"
    api.register_hardware(spec_hardware(hw))
    entries = _table_entries(api, hw)
    src = tmp_path / "t.csv"
    src.write_text(tablefile.csv_text(entries, hardware=hw))  # quoted keys
    out, _ = ok(srv, "table", "upload", str(src), "--backend", "rknn", "--tool", "cli-test")
    assert out == f"uploaded {hw} version 1: {len(entries)} entries (1 failed)\n"
    info, got = api.export_table(hw, 1)
    assert (info.backend, info.tool) == ("rknn", "cli-test")
    assert sorted((lutnas.to_dict(e) for e in got), key=lambda e: e["key"]) == sorted(
        entries, key=lambda e: e["key"])

    out_csv = tmp_path / "out.csv"
    _, err = ok(srv, "table", "export", hw, "-o", str(out_csv))
    assert f"{hw} version 1, {len(entries)} entries" in err
    got_info, got = tablefile.read_csv_table(out_csv.read_text())
    assert (got_info["hardware"], got_info["version"], got_info["backend"]) == (hw, 1, "rknn")
    assert sorted(got, key=lambda e: e["key"]) == sorted(entries, key=lambda e: e["key"])
    out_json = tmp_path / "out.json"
    ok(srv, "table", "export", hw, "-o", str(out_json))
    info_d, got = tablefile.read_json(out_json.read_text())
    assert info_d["hardware"] == hw and len(got) == len(entries)
    out, _ = ok(srv, "table", "export", hw, "--format", "csv")  # stdout
    assert tablefile.read_csv(out)[1] == tablefile.read_csv(out_csv.read_text())[1]

    # The daemon parses the exported file (metadata comments included) ...
    out, _ = ok(srv, "table", "import", str(out_csv), "--hardware", hw)
    assert out == f"imported {hw} version 2: {len(entries)} entries (1 failed)\n"
    assert api.export_table(hw, 2)[0].backend == "rknn"
    # ... and the JSON form, and its own unquoted style, uploaded or imported.
    ok(srv, "table", "import", str(out_json), "--hardware", hw)
    daemon_style = tmp_path / "daemon-style.csv"
    daemon_style.write_text("# lutnas latency table v1\n# hardware: cli-tables\n# threads: 2\n"
                            "key,median_ms,iqr_ms,p10_ms,p90_ms,samples,status,error\n"
                            + "".join(f"{e['key']},{e['median_ms'] or ''},,,,{e['samples']},"
                                      f"{'failed' if e['status'] == 'ENTRY_FAILED' else 'measured'},"
                                      f"{e['error'].replace(',', ';')}\n" for e in entries))
    ok(srv, "table", "upload", str(daemon_style))  # hardware from the file
    ok(srv, "table", "import", str(daemon_style), "--hardware", hw)
    v4, v5 = (api.export_table(hw, v) for v in (4, 5))
    assert v4[0].threads == v5[0].threads == 2
    assert sorted(e.SerializeToString() for e in v4[1]) == sorted(
        e.SerializeToString() for e in v5[1])

    ofa = tmp_path / "ofa.yaml"
    ofa.write_text("Conv-input:224x224x3-output:112x112x32:\n  count: 50\n  mean: 3.2\n"
                   "  var: 0.04\nMaxPool-input:56x56x24-output:28x28x24: "
                   "{count: 50, mean: 0.3, var: 0.0}\n")
    out, _ = ok(srv, "table", "import", str(ofa), "--hardware", hw, "--format", "ofa")
    assert out.startswith(f"imported {hw} version 6: 1 entries (0 failed)\n")
    assert "1 keys had no lutnas block: MaxPool-input:56x56x24-output:28x28x24" in out

    out, _ = ok(srv, "table", "list", hw, "--json")
    assert sorted(int(t["version"]) for t in json.loads(out)["tables"]) == [1, 2, 3, 4, 5, 6]
    out, _ = ok(srv, "table", "list")
    assert out.splitlines()[0].split()[:2] == ["hardware", "version"]
    assert any(ln.split()[:2] == [hw, "6"] for ln in out.splitlines())
    out, _ = ok(srv, "table", "set-correction", hw, "--version", "2", "--scale", "1.1",
                "--offset-ms", "0.2")
    assert out == f"{hw} version 2: correction x1.1 +0.2ms\n"
    assert api.export_table(hw, 2)[0].correction.scale == 1.1


def test_table_upload_needs_a_hardware(srv, tmp_path):
    src = tmp_path / "t.csv"
    src.write_text(tablefile.csv_text(ENTRIES))
    code, _, err = run(srv, "table", "upload", str(src))
    assert code == 1 and "--hardware" in err


def test_table_upload_bad_file_names_the_line(srv, tmp_path):
    src = tmp_path / "t.csv"
    src.write_text("# hardware: rk3588-npu\nkey,median_ms\n\"conv:o8,k3,s1,g1,relu@3x8x8\",fast\n")
    code, _, err = run(srv, "table", "upload", str(src))
    assert (code, err) == (1, "error: line 3: median_ms 'fast' is not a number\n")


def test_search_watch_and_spec(srv, api, job):
    code, out, err = run(srv, "search", "watch", str(job.id))
    assert (code, out) == (0, "")
    p = job.final.progress
    assert err.splitlines()[-1] == (
        f"job {job.id} succeeded: {p.evaluated} evaluated, {p.feasible} feasible, "
        f"best {p.best_score:.6g}, pareto {p.pareto_size}, {p.elapsed_s:.1f}s")
    code, out, _ = run(srv, "search", "watch", str(job.id), "--json")
    assert code == 0 and json.loads(out.splitlines()[-1])["state"] == "JOB_SUCCEEDED"
    spec = job.final.spec
    assert (spec.objective, spec.population, spec.seed, spec.name) == (
        PB.service_pb2.PARAMS, 8, 3, "cli-job")
    assert [(b.hardware, b.max_ms, b.table_version) for b in spec.budgets] == [
        (CLI_HW, BUDGET_MS, 1)]
    assert list(spec.report_hardware) == ["rk3588-npu"]
    code, _, err = run(srv, "search", "submit", "--space", "tiny", "--report-hardware",
                       "host-cpu")
    assert code == 1 and "report_hardware[0]" in err and "no latency table" in err


def test_search_submit_watch_follows_to_the_end(srv, api):
    """`submit --watch` follows the Watch stream while the job runs: it ends
    well only if the daemon's stream ends on the terminal snapshot."""
    code, out, err = run(srv, "search", "submit", "--space", "tiny", "--objective", "macs",
                         "--population", "8", "--generations", "10", "--sample-size", "2",
                         "--unconstrained", "--watch")
    assert code == 0, err
    job_id = int(out)
    lines = err.splitlines()
    assert all(ln.startswith(f"job {job_id} ") for ln in lines)
    assert lines[-1].startswith(f"job {job_id} succeeded: ")
    code, out, err = run(srv, "search", "submit", "--space", "tiny", "--objective", "macs",
                         "--population", "8", "--generations", "10", "--sample-size", "2",
                         "--seed", "1", "--unconstrained", "--watch", "--json")
    assert code == 0, err
    assert json.loads(out)["state"] == "JOB_SUCCEEDED"


def test_search_failed_job_exits_1(srv, api):
    out, _ = ok(srv, "search", "submit", "--space", "tiny", "--objective", "params",
                "--population", "4", "--sample-size", "2", "--generations", "500",
                "--max-runtime", "0.000001", "--unconstrained")
    job_id = out.strip()
    assert finish(api, int(job_id))[1].state == PB.service_pb2.JOB_FAILED
    code, _, err = run(srv, "search", "watch", job_id)
    assert code == 1
    assert f"error: job {job_id} failed: " in err and "max_runtime_s" in err
    code, out, _ = run(srv, "search", "watch", job_id, "--json")
    states = [json.loads(ln)["state"] for ln in out.splitlines()]
    assert code == 1 and states[-1] == "JOB_FAILED"
    code, out, _ = run(srv, "search", "show", job_id)
    assert code == 0 and "state       failed  (stopped: " in out


def test_search_list_show_cancel(srv, api, job):
    out, _ = ok(srv, "search", "list")
    row = next(ln.split() for ln in out.splitlines() if ln.split()[:1] == [str(job.id)])
    assert row[1:7] == ["cli-job", "succeeded", "tiny", "evolution", "params", "2/2"]
    out, _ = ok(srv, "search", "list", "--json")
    assert str(job.id) in [j["id"] for j in json.loads(out)["jobs"]]
    out, _ = ok(srv, "search", "show", str(job.id))
    assert "state       succeeded" in out and "progress    generation 2/2" in out
    assert f"budget      {CLI_HW} <= {BUDGET_MS:g} ms (table v1)" in out
    assert "reported    rk3588-npu" in out
    assert json.loads(ok(srv, "search", "show", str(job.id), "--json")[0])["id"] == str(job.id)
    code, _, err = run(srv, "search", "cancel", str(job.id))
    assert code == 1 and err == f"error: job {job.id} already ended (JOB_SUCCEEDED)\n"
    running = api.submit({"space": "tiny", "objective": "PARAMS", "population": 100,
                          "sample_size": 10, "generations": 2000, "unconstrained": True})
    out, _ = ok(srv, "search", "cancel", str(running.id))
    assert out == f"job {running.id} cancelled\n"
    code, _, err = run(srv, "search", "show", "987654")
    assert code == 1 and err.startswith("error: ") and "987654" in err


def _latency(c, hw):
    return next(p for p in c.latency if p.hardware == hw)


def test_candidates_list(srv, job):
    cands = job.cands
    out, _ = ok(srv, "candidates", "list", "--job", str(job.id), "--limit", "4")
    lines = out.splitlines()
    assert lines[0].split() == ["id", "job", "gen", "score", "params", "MACs", CLI_HW, "ms",
                                "rk3588-npu", "ms", "feasible", "pareto"]
    for line, c in zip(lines[1:5], cands[:4]):
        want = [str(c.id), str(job.id), str(c.generation), f"{c.score:.6g}",
                render.count(c.params), render.count(c.macs),
                render.ms(_latency(c, CLI_HW).latency_ms)]
        frac = _latency(c, CLI_HW).measured_fraction
        if frac < 1:  # partly measured: the measured share, never rounded up to 100%
            want += ["est", f"({render.percent(min(frac, 0.99))}", "measured)"]
        # rk3588-npu has no table here: estimated from its published peaks
        want += [render.ms(_latency(c, "rk3588-npu").latency_ms), "spec",
                 "yes" if c.feasible else "no"] + (["*"] if c.pareto else [])
        assert line.split() == want
    assert f"4 of {len(cands)} candidates; next page: --page-token " in out
    assert "est (NN% measured) = NN% of the block sum measured" in out
    assert "spec = no table" in out
    token = out.split("--page-token ")[1].split()[0]
    out, _ = ok(srv, "candidates", "list", "--job", str(job.id), "--limit", "4",
                "--page-token", token, "--json")
    assert [c["id"] for c in json.loads(out)["candidates"]] == [str(c.id) for c in cands[4:8]]
    out, _ = ok(srv, "candidates", "list", "--job", str(job.id), "--all", "--json", "--pareto")
    doc = json.loads(out)
    assert [c["id"] for c in doc["candidates"]] == [str(c.id) for c in cands if c.pareto]
    assert doc["total"] == str(sum(c.pareto for c in cands)) and doc["next_page_token"] == ""
    out, _ = ok(srv, "candidates", "list", "--job", str(job.id), "--sort", "params", "--desc",
                "--all", "--json")
    assert [int(c["params"]) for c in json.loads(out)["candidates"]] == sorted(
        (c.params for c in cands), reverse=True)
    # --hardware alone: ordered by (or capped at) the latency on it.
    out, _ = ok(srv, "candidates", "list", "--job", str(job.id), "--sort", "latency",
                "--hardware", CLI_HW, "--all", "--json")
    got = [int(c["id"]) for c in json.loads(out)["candidates"]]
    lat = {c.id: _latency(c, CLI_HW).latency_ms for c in cands}
    assert sorted(got) == sorted(lat) and [lat[i] for i in got] == sorted(lat.values())
    out, _ = ok(srv, "candidates", "list", "--job", str(job.id), "--hardware", CLI_HW,
                "--max-latency", str(BUDGET_MS), "--all", "--json")
    assert {int(c["id"]) for c in json.loads(out)["candidates"]} == {
        c.id for c in cands if lat[c.id] <= BUDGET_MS}


def test_candidates_show(srv, api, job):
    c = api.get_candidate(job.cands[0].id)
    out, _ = ok(srv, "candidates", "show", str(c.id))
    assert out.startswith(f"candidate {c.id}  (job {job.id}, generation {c.generation})")
    assert f"hash {c.arch_hash}" in out and "architecture:" in out
    assert re.search(r"^  stem\[0\] +conv\(out_channels=16, ", out, re.M)
    assert "head" in out and "num_classes=100" in out
    assert f"{CLI_HW} (table 1):" in out and "rk3588-npu (table -):" in out
    assert c.latency[0].blocks[0].key in out
    out, _ = ok(srv, "candidates", "show", str(c.id), "--json")
    assert json.loads(out)["arch_hash"] == c.arch_hash
    code, _, err = run(srv, "candidates", "show", "987654")
    assert code == 1 and err.startswith("error: ") and "987654" in err


def test_plot_command(srv, job, tmp_path):
    out_png = tmp_path / "pareto.png"
    out, _ = ok(srv, "plot", str(job.id), "-o", str(out_png))
    assert out.startswith(f"wrote {out_png}: {len(job.cands)} candidates, Pareto front of ")
    assert out_png.read_bytes().startswith(PNG_MAGIC)
    out, _ = ok(srv, "plot", str(job.id), "-o", str(out_png), "--hardware", "rk3588-npu")
    assert f"{len(job.cands)} candidates" in out
    code, _, err = run(srv, "plot", str(job.id), "-o", str(out_png), "--hardware", "other")
    assert code == 1 and "no candidate has a latency on 'other'" in err


def test_export_pytorch_json(srv, api, job, tmp_path):
    c = job.cands[0]
    py = tmp_path / "m.py"
    assert run(srv, "export", str(c.id), "-o", str(py)) == (0, f"wrote {py}\n", "")
    assert "def build_model" in py.read_text() and "INPUT_SHAPE" in py.read_text()
    js = tmp_path / "m.json"
    ok(srv, "export", str(c.id), "--format", "json", "-o", str(js))
    arch = lutnas.to_message(json.loads(js.read_text()), PB.arch_pb2.Architecture)
    assert api.predict(arch).arch_hash == c.arch_hash
    out, _ = ok(srv, "export", str(c.id), "--format", "json", "-o", "-")
    assert json.loads(out)["resolution"] == c.arch.resolution


def test_export_onnx(srv, job, tmp_path):
    pytest.importorskip("torch")
    c = job.cands[0]
    out = tmp_path / "m.onnx"
    code, text, err = run(srv, "export", str(c.id), "--format", "onnx", "-o", str(out))
    assert code == 0, err
    r = c.arch.resolution
    assert text == f"wrote {out} (input 1x3x{r}x{r})\n"
    assert out.stat().st_size > 1000


def test_export_onnx_without_torch_is_a_clear_error(srv, job, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    code, _, err = run(srv, "export", str(job.cands[0].id), "--format", "onnx", "-o",
                       str(tmp_path / "m.onnx"))
    assert code == 1 and err.startswith("error: this needs PyTorch")


# ============================================================ scripts/lutnas


def sh(*argv, check=True):
    res = subprocess.run([LUTNAS, *argv], capture_output=True, text=True, timeout=300)
    if check:
        assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr, res.stderr
    return res


def test_scripts_lutnas_help():
    assert "usage: lutnas" in sh("--help").stdout
    assert "--page-token" in sh("candidates", "list", "--help").stdout


def test_scripts_lutnas_unreachable():
    res = sh("--server", "127.0.0.1:1", "--timeout", "2", "hardware", "list", check=False)
    assert res.returncode == 1 and res.stderr.startswith("error: ")


def test_scripts_lutnas_against_the_daemon(srv, job, tmp_path):
    """The installed entry point end to end (the commands above run in-process)."""
    s = ["--server", srv, "--timeout", "60"]
    hws = json.loads(sh(*s, "hardware", "list", "--json").stdout)["hardware"]
    assert "host-cpu" in [h["name"] for h in hws]
    pred = json.loads(sh(*s, "predict", str(ROOT / "models/mobilenet_v2.json"), "--hardware",
                         "rk3588-npu", "--json").stdout)
    assert pred["params"] == "3504872" and pred["predictions"][0]["estimated_from_spec"]
    res = sh(*s, "predict", str(ROOT / "models/mobilenet_v2.json"), "--hardware", "host-cpu",
             check=False)
    assert res.returncode == 1 and res.stderr.startswith("error: ") and res.stdout == ""
    cands = json.loads(sh(*s, "candidates", "list", "--job", str(job.id), "--all",
                          "--json").stdout)["candidates"]
    assert [c["id"] for c in cands] == [str(c.id) for c in job.cands]
    py = tmp_path / "m.py"
    sh(*s, "export", cands[0]["id"], "-o", str(py))
    assert "def build_model" in py.read_text()
