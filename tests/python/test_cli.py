"""The lutnas CLI: argument parsing, table files, rendering and plots (no
daemon), every command against the in-process fake, then a smoke run of
scripts/lutnas against a real lutnasd."""

import io
import json
import subprocess
import sys

import pytest

import lutnas
from lutnas import cli, render, tablefile
from lutnas.plot import pareto_front, plot_pareto
from conftest import FAKE_CODE, FAKE_CODE_PARAMS, PB, ROOT

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
    assert lines[0].startswith("job 5 running") and " 33%" in lines[0]
    assert "gen 1/2" in lines[1] and "eval 8/12" in lines[1]
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


# ============================================================ against the fake


def run(fake, *argv):
    """Runs the CLI in-process; returns (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        code = cli.main(["--server", fake.target, "--timeout", "10", *argv])
    finally:
        sys.stdout, sys.stderr = old
    return code, out.getvalue(), err.getvalue()


def test_hardware_commands(fake, tmp_path):
    code, out, _ = run(fake, "hardware", "list")
    assert code == 0 and out.splitlines()[0].split()[:3] == ["name", "backend", "precision"]
    assert "host-cpu" in out
    code, out, _ = run(fake, "hardware", "list", "--json")
    assert [h["name"] for h in json.loads(out)["hardware"]] == ["host-cpu"]
    f = tmp_path / "npu.json"
    f.write_text(json.dumps({"name": "npu-1", "backend": "rknn", "threads": 3}))
    assert run(fake, "hardware", "add", str(f))[1] == "registered npu-1\n"
    code, out, _ = run(fake, "--json", "hardware", "show", "npu-1")  # global --json
    assert json.loads(out)["threads"] == 3
    code, out, _ = run(fake, "hardware", "show", "npu-1")
    assert "backend" in out and "rknn" in out
    assert run(fake, "hardware", "delete", "npu-1") == (0, "deleted npu-1\n", "")


def test_errors_print_details_and_exit_1(fake, tmp_path):
    code, out, err = run(fake, "hardware", "show", "nope")
    assert (code, out) == (1, "")
    assert err == "error: no hardware 'nope'\n"
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    code, _, err = run(fake, "hardware", "add", str(bad))
    assert code == 1 and err.startswith("error: ") and "not valid JSON" in err
    code, _, err = run(fake, "predict", str(tmp_path / "missing.json"))
    assert code == 1 and "missing.json" in err and "No such file" in err
    code, _, err = run(fake, "hardware", "add", str(ROOT / "models/resnet18.json"))
    assert code == 1 and err.startswith("error: hardware: ")


def test_unreachable_server_is_one_error_line(capsys):
    assert cli.main(["--server", "127.0.0.1:1", "--timeout", "2", "search", "list"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "127.0.0.1:1" in err and len(err.splitlines()) == 1


def test_predict_output(fake):
    arch = str(ROOT / "models/mobilenet_v2.json")
    code, out, _ = run(fake, "predict", arch, "--hardware", "host-cpu")
    assert code == 0
    assert "params 3,504,872 (3.505M)" in out
    header = [ln for ln in out.splitlines() if ln.startswith("hardware")][0]
    assert "latency ms" in header and "measured" in header and "estimated from spec" in header
    row = [ln for ln in out.splitlines() if ln.startswith("host-cpu")][0]
    assert row.split() == ["host-cpu", "-", "12.500", "12.500", "0%", "yes"]
    code, out, _ = run(fake, "predict", arch, "--hardware", "host-cpu", "--breakdown")
    assert "stem[0]" in out and "conv:o32,k3,s2,g1,relu6@3x224x224" in out and "roofline" in out
    code, out, _ = run(fake, "predict", arch, "--hardware", "host-cpu", "--json")
    assert json.loads(out)["params"] == "3504872"
    code, _, err = run(fake, "predict", arch, "--hardware", "host-cpu,nope")
    assert code == 1 and "nope" in err


def test_table_upload_export_import(fake, tmp_path):
    src = tmp_path / "t.csv"
    src.write_text(tablefile.csv_text(ENTRIES, hardware="host-cpu"))
    code, out, _ = run(fake, "table", "upload", str(src), "--backend", "libtorch-cpu")
    assert code == 0 and out == "uploaded host-cpu version 1: 3 entries (1 failed)\n"
    got = fake.state.upload_requests[0][0].info
    assert (got.hardware, got.backend) == ("host-cpu", "libtorch-cpu")
    out_csv = tmp_path / "out.csv"
    code, _, err = run(fake, "table", "export", "host-cpu", "-o", str(out_csv))
    assert code == 0 and "version 1, 3 entries" in err
    assert tablefile.read_csv(out_csv.read_text()) == ("host-cpu", ENTRIES)
    out_json = tmp_path / "out.json"
    run(fake, "table", "export", "host-cpu", "-o", str(out_json))
    info, entries = tablefile.read_json(out_json.read_text())
    assert info["hardware"] == "host-cpu" and entries[0]["key"] == ENTRIES[0]["key"]
    code, out, _ = run(fake, "table", "export", "host-cpu", "--format", "csv")  # stdout
    assert tablefile.read_csv(out)[1] == ENTRIES
    code, out, _ = run(fake, "table", "import", str(src), "--hardware", "host-cpu")
    assert code == 0 and out.startswith("imported host-cpu version 2: 3 entries")
    assert "ofa-key-1" in out
    code, out, _ = run(fake, "table", "list", "host-cpu", "--json")
    assert [t["version"] for t in json.loads(out)["tables"]] == ["1", "2"]
    code, out, _ = run(fake, "table", "list")
    assert out.splitlines()[0].split()[:2] == ["hardware", "version"]
    code, out, _ = run(fake, "table", "set-correction", "host-cpu", "--version", "2",
                       "--scale", "1.1", "--offset-ms", "0.2")
    assert code == 0 and "x1.1 +0.2ms" in out


def test_table_upload_needs_a_hardware(fake, tmp_path):
    src = tmp_path / "t.csv"
    src.write_text(tablefile.csv_text(ENTRIES))
    code, _, err = run(fake, "table", "upload", str(src))
    assert code == 1 and "--hardware" in err


def test_search_submit_and_watch(fake):
    code, out, err = run(fake, "search", "submit", "--space", "tiny", "--budget", "host-cpu=8",
                         "--population", "4", "--generations", "2", "--objective", "params")
    assert (code, out) == (0, "1\n")
    spec = fake.state.last_spec
    assert spec.objective == PB.service_pb2.PARAMS and spec.budgets[0].max_ms == 8.0
    code, out, err = run(fake, "search", "submit", "--space", "tiny", "--watch")
    assert code == 0 and out == "1\n"
    lines = err.splitlines()
    assert lines[0].startswith("job 1 running") and "100%" in lines[-2]
    assert lines[-1].startswith("job 1 succeeded: 12 evaluated")
    code, out, _ = run(fake, "search", "submit", "--space", "tiny", "--watch", "--json")
    assert code == 0 and json.loads(out)["state"] == "JOB_SUCCEEDED"


def test_search_watch_failed_job_exits_1(fake):
    fake.state.job_final_state = "JOB_FAILED"
    code, _, err = run(fake, "search", "watch", "1")
    assert code == 1 and "error: job 1 failed: budget out of reach" in err
    code, out, _ = run(fake, "search", "watch", "1", "--json")
    states = [json.loads(ln)["state"] for ln in out.splitlines()]
    assert code == 1 and states == ["JOB_RUNNING", "JOB_RUNNING", "JOB_FAILED"]


def test_search_list_show_cancel(fake):
    code, out, _ = run(fake, "search", "list")
    assert code == 0 and "succeeded" in out and "2/2" in out
    code, out, _ = run(fake, "search", "list", "--json")
    assert json.loads(out)["jobs"][0]["id"] == "1"
    code, out, _ = run(fake, "search", "show", "1")
    assert "state       succeeded" in out and "progress    generation 2/2" in out
    code, _, err = run(fake, "search", "cancel", "1")
    assert code == 1 and err == "error: job 1 already finished\n"


def test_candidates_list(fake):
    code, out, _ = run(fake, "candidates", "list", "--limit", "4")
    lines = out.splitlines()
    assert lines[0].split() == ["id", "job", "gen", "score", "params", "MACs", "host-cpu", "ms",
                                "feasible", "pareto"]
    assert lines[1].split() == ["1", "1", "1", "1000", "1k", "50k", "0.500", "yes"]
    assert lines[2].split() == ["2", "1", "2", "2000", "2k", "100k", "1.000", "est", "yes"]
    assert lines[4].split()[-1] == "*"  # candidate 4 is on the front
    assert "4 of 23 candidates; next page: --page-token 4" in out
    assert "est:" in out
    code, out, _ = run(fake, "candidates", "list", "--all", "--json", "--pareto")
    doc = json.loads(out)
    assert [c["id"] for c in doc["candidates"]] == ["4", "8", "12", "16", "20"]
    assert doc["total"] == "5" and doc["next_page_token"] == ""
    code, out, _ = run(fake, "candidates", "list", "--sort", "params", "--desc", "--limit", "2",
                       "--page-token", "2", "--json")
    assert [c["id"] for c in json.loads(out)["candidates"]] == ["21", "20"]


def test_candidates_show(fake):
    code, out, _ = run(fake, "candidates", "show", "3")
    assert code == 0
    assert out.startswith("candidate 3  (job 1, generation 0)")
    assert "stem[0]  conv(out_channels=8)" in out
    assert "head" in out and "num_classes=10" in out
    assert "host-cpu (table 1):" in out and "measured" in out
    code, out, _ = run(fake, "candidates", "show", "3", "--json")
    assert json.loads(out)["arch_hash"] == "0000000000000003"
    assert run(fake, "candidates", "show", "99")[0] == 1


def test_plot_command(fake, tmp_path):
    out_png = tmp_path / "pareto.png"
    code, out, _ = run(fake, "plot", "1", "-o", str(out_png))
    assert code == 0 and out.startswith(f"wrote {out_png}: 23 candidates, Pareto front of")
    assert out_png.read_bytes().startswith(PNG_MAGIC)
    code, _, err = run(fake, "plot", "1", "-o", str(out_png), "--hardware", "other")
    assert code == 1 and "no candidate has a latency on 'other'" in err


def test_export_pytorch_json(fake, tmp_path):
    py = tmp_path / "m.py"
    assert run(fake, "export", "3", "-o", str(py)) == (0, f"wrote {py}\n", "")
    assert "def build_model" in py.read_text()
    js = tmp_path / "m.json"
    run(fake, "export", "3", "--format", "json", "-o", str(js))
    arch = lutnas.to_message(json.loads(js.read_text()), PB.arch_pb2.Architecture)
    assert arch.name == "c3"


def test_export_onnx(fake, tmp_path):
    pytest.importorskip("torch")
    from lutnas.torch_export import build_model

    model, shape = build_model(FAKE_CODE)
    assert sum(p.numel() for p in model.parameters()) == FAKE_CODE_PARAMS
    out = tmp_path / "m.onnx"
    code, text, err = run(fake, "export", "3", "--format", "onnx", "-o", str(out))
    assert code == 0, err
    assert text == f"wrote {out} (input 1x3x16x16)\n"
    assert out.stat().st_size > 1000


def test_export_onnx_without_torch_is_a_clear_error(fake, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    code, _, err = run(fake, "export", "3", "--format", "onnx", "-o", str(tmp_path / "m.onnx"))
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


# ============================================================ real daemon


@pytest.fixture(scope="module")
def srv(module_daemon):
    return ["--server", module_daemon.target, "--timeout", "60"]


def test_cli_hardware_and_predict(srv, tmp_path):
    hws = json.loads(sh(*srv, "hardware", "list", "--json").stdout)["hardware"]
    assert "host-cpu" in [h["name"] for h in hws]
    f = tmp_path / "hw.json"
    f.write_text(json.dumps({"name": "cli-hw", "backend": "rknn", "precision": "int8",
                             "threads": 1, "peak_gops": 6000, "bandwidth_gbs": 20,
                             "channel_alignment": 8}))
    sh(*srv, "hardware", "add", str(f))
    assert json.loads(sh(*srv, "hardware", "show", "cli-hw", "--json").stdout)["backend"] == "rknn"
    res = sh(*srv, "hardware", "add", str(f), check=False)
    assert res.returncode == 1 and res.stderr.startswith("error: ")
    res = sh(*srv, "hardware", "show", "no-such-hw", check=False)
    assert res.returncode == 1 and res.stderr.startswith("error: ")
    pred = json.loads(sh(*srv, "predict", str(ROOT / "models/mobilenet_v2.json"), "--hardware",
                         "cli-hw", "--json").stdout)
    assert pred["params"] == "3504872"
    assert [p["hardware"] for p in pred["predictions"]] == ["cli-hw"]
    assert pred["predictions"][0]["estimatedFromSpec"] is True
    # host-cpu has neither a table nor published figures: an honest error.
    res = sh(*srv, "predict", str(ROOT / "models/mobilenet_v2.json"), "--hardware", "host-cpu", check=False)
    assert res.returncode == 1 and "no latency table" in res.stderr
    out = sh(*srv, "predict", str(ROOT / "models/mobilenet_v2.json"), "--hardware",
             "rk3588-npu,cli-hw", "--breakdown").stdout
    assert "stem[0]" in out and "stages[6].blocks[0]" in out and "cli-hw" in out


def test_cli_table_search_candidates_plot_export(srv, tmp_path):
    hw = "cli-search"
    f = tmp_path / "hw.json"
    f.write_text(json.dumps({"name": hw, "backend": "rknn", "peak_gops": 6000,
                             "bandwidth_gbs": 20, "channel_alignment": 8}))
    sh(*srv, "hardware", "add", str(f))
    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps({
        "name": "cli-arch", "resolution": 64,
        "stem": [{"conv": {"out_channels": 16, "kernel": 3, "stride": 2, "act": "RELU"}}],
        "stages": [{"blocks": [{"mbconv": {"out_channels": 16, "expansion": 3, "stride": 2}}]}],
        "head": {"conv_channels": 0, "num_classes": 100}}))
    pred = json.loads(sh(*srv, "predict", str(arch), "--hardware", hw, "--breakdown",
                         "--json").stdout)
    keys = list(dict.fromkeys(b["key"] for b in pred["predictions"][0]["blocks"]))
    entries = [{"key": k, "median_ms": 0.0625 * (i + 1), "iqr_ms": 0.0078125,
                "p10_ms": 0.0625 * i, "p90_ms": 0.0625 * (i + 2), "samples": 30,
                "status": "ENTRY_MEASURED", "error": ""} for i, k in enumerate(keys)]
    csv_in = tmp_path / "in.csv"
    csv_in.write_text(tablefile.csv_text(entries, hardware=hw))

    # table import (the daemon parses the CSV), list, export
    res = sh(*srv, "table", "import", str(csv_in), "--hardware", hw, "--json")
    assert json.loads(res.stdout)["info"]["version"] == "1"
    tables = json.loads(sh(*srv, "table", "list", hw, "--json").stdout)["tables"]
    assert [(t["hardware"], t["version"], t["entries"]) for t in tables] == [
        (hw, "1", str(len(entries)))]
    csv_out = tmp_path / "out.csv"
    sh(*srv, "table", "export", hw, "-o", str(csv_out))
    got_hw, got = tablefile.read_csv(csv_out.read_text())
    assert got_hw == hw
    assert sorted(got, key=lambda e: e["key"]) == sorted(entries, key=lambda e: e["key"])
    pred = json.loads(sh(*srv, "predict", str(arch), "--hardware", hw, "--json").stdout)
    assert pred["predictions"][0]["table_version"] == "1"

    # search, watched to the end
    res = sh(*srv, "search", "submit", "--space", "tiny", "--budget", f"{hw}=1000",
             "--objective", "params", "--population", "8", "--generations", "2",
             "--sample-size", "4", "--seed", "3", "--name", "cli-test", "--report-hardware",
             "host-cpu", "--watch", "--json")
    job = json.loads(res.stdout)
    assert job["state"] == "JOB_SUCCEEDED" and job["spec"]["name"] == "cli-test"
    job_id = job["id"]
    jobs = json.loads(sh(*srv, "search", "list", "--json").stdout)["jobs"]
    assert job_id in [j["id"] for j in jobs]
    assert json.loads(sh(*srv, "search", "show", job_id, "--json").stdout)["id"] == job_id
    assert "succeeded" in sh(*srv, "search", "show", job_id).stdout

    # candidates
    all_c = json.loads(sh(*srv, "candidates", "list", "--job", job_id, "--all",
                          "--json").stdout)["candidates"]
    ids = [c["id"] for c in all_c]
    assert ids and len(ids) == len(set(ids))
    page = json.loads(sh(*srv, "candidates", "list", "--job", job_id, "--limit", "2",
                         "--json").stdout)
    assert [c["id"] for c in page["candidates"]] == ids[:2]
    assert int(page["total"]) == len(ids) and (page["next_page_token"] != "") == (len(ids) > 2)
    text = sh(*srv, "candidates", "list", "--job", job_id, "--sort", "latency",
              "--hardware", hw).stdout
    assert f"{hw} ms" in text.splitlines()[0]
    cid = ids[0]
    text = sh(*srv, "candidates", "show", cid).stdout
    assert text.startswith(f"candidate {cid}") and "architecture:" in text and "stem[0]" in text
    res = sh(*srv, "candidates", "show", "987654", check=False)
    assert res.returncode == 1 and res.stderr.startswith("error: ")

    # plot and export
    png = tmp_path / "pareto.png"
    sh(*srv, "plot", job_id, "-o", str(png))
    assert png.read_bytes().startswith(PNG_MAGIC)
    py = tmp_path / "m.py"
    sh(*srv, "export", cid, "--format", "pytorch", "-o", str(py))
    assert "def build_model" in py.read_text() and "INPUT_SHAPE" in py.read_text()
    js = tmp_path / "m.json"
    sh(*srv, "export", cid, "--format", "json", "-o", str(js))
    assert lutnas.to_message(json.loads(js.read_text()), PB.arch_pb2.Architecture).resolution
    try:
        import torch  # noqa: F401
    except ImportError:
        return
    onnx = tmp_path / "m.onnx"
    sh(*srv, "export", cid, "--format", "onnx", "-o", str(onnx))
    assert onnx.stat().st_size > 1000
