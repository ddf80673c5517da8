"""`lutnas profile-external` end to end: real keys exported to ONNX/TorchScript,
a stand-in vendor tool (a Python script written here) run on each file, its
output parsed, failures kept as data, the table uploaded to the real lutnasd and
used by its predictions."""

import json
import os
import sys
import textwrap
import time

import pytest

import lutnas
from lutnas.cli import _main as cli
from lutnas.measure import external
from lutnas import tablefile, tools
from conftest import PB, ROOT, block_keys, spec_hardware, tiny_arch

pytest.importorskip("torch")

TINY = str(ROOT / "search" / "spaces" / "tiny.json")
PARSE = r"mean latency: ([0-9.]+) ms"
SHUFFLE_ERROR = "unsupported operator: channel_shuffle"

# A stand-in for a vendor benchmark: "latency" from the model file's size; an
# ONNX graph with a Transpose (the channel shuffle) is refused like an NPU
# compiler refuses an operator it lacks. Every result is logged for the test.
STAND_IN = textwrap.dedent("""\
    import os, sys
    path, log = sys.argv[1], sys.argv[2]
    data = open(path, "rb").read()
    key = os.environ["LUTNAS_KEY"]
    if path.endswith(".onnx") and b"Transpose" in data:
        print("compiling", os.path.basename(path))
        print("E NPU: SHUFFLE_ERROR", file=sys.stderr)
        sys.exit(1)
    ms = "%.4f" % (len(data) / 1e5)
    with open(log, "a") as f:
        f.write(key + "\\t" + ms + "\\t" + os.path.basename(path) + "\\n")
    print("warmup 10 runs\\nmean latency: " + ms + " ms\\np99 latency: 9.9 ms")
""").replace("SHUFFLE_ERROR", SHUFFLE_ERROR)


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory):
    d = tmp_path_factory.mktemp("tool")
    script = d / "bench.py"
    script.write_text(STAND_IN)
    return script


def command(script, log, placeholder="{model}"):
    return f"{sys.executable} {script} {placeholder} {log}"


def read_log(log):
    out = {}
    if log.exists():
        for line in log.read_text().splitlines():
            key, ms, name = line.split("\t")
            out[key] = (float(ms), name)
    return out


def main(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_profile_external_uploads_a_table_the_daemon_predicts_with(
        module_daemon, module_client, stand_in, tmp_path, capsys):
    hw = "ext-npu"
    module_client.register_hardware(spec_hardware(hw))
    arch = tiny_arch(16, 64)
    arch_keys = block_keys(module_client, [arch], hw)
    shuffles = [k for k in tools.space_keys(TINY) if k.startswith("shuffle:")][:2]
    left_out = "repvgg:o32,s2,g1,deploy,relu@16x16x16"
    keys_file = tmp_path / "keys.txt"
    keys_file.write_text("# stand-in run\n" + "\n".join(arch_keys + shuffles + [left_out])
                         + "\n\n" + arch_keys[0] + "\n")  # a duplicate is measured once
    log = tmp_path / "log.tsv"
    cmd = command(stand_in, log)
    n = len(arch_keys) + len(shuffles)
    t0 = time.monotonic()
    code, out, err = main(capsys, "--server", module_daemon.target, "profile-external", "--method", "lone",
                          "--space", TINY, "--keys-file", str(keys_file), "--hardware", hw,
                          "--command", cmd, "--parse", PARSE, "--limit", str(n))
    assert code == 0, err
    assert time.monotonic() - t0 < 20
    assert out == f"uploaded {hw} version 1: {n} entries ({len(shuffles)} failed)\n"
    # progress with an ETA on stderr, one line per key when not a terminal
    progress = [ln for ln in err.splitlines() if ln.startswith("[")]
    assert len(progress) == n and all(" ETA " in ln for ln in progress)
    assert progress[-1].startswith(f"[{n}/{n}] {shuffles[-1]}: failed: ")

    info, entries = module_client.export_table(hw)
    assert (info.version, info.backend, info.tool, info.space) == (1, "external", cmd, "tiny")
    assert (info.entries, info.failed) == (n, len(shuffles))
    got = {e.key: e for e in entries}
    assert set(got) == set(arch_keys + shuffles)
    assert left_out not in got  # --limit
    logged = read_log(log)
    assert set(logged) == set(arch_keys)  # the shuffles never reached the "measurement"
    for k in arch_keys:
        e = got[k]
        assert e.status == PB.table_pb2.ENTRY_MEASURED
        assert e.median_ms == pytest.approx(logged[k][0]) and e.median_ms > 0
        assert e.samples == 1 and e.p10_ms == e.p90_ms == e.median_ms
        assert logged[k][1].endswith(".onnx") and "@" not in logged[k][1]  # a file-safe name
    for k in shuffles:
        e = got[k]
        assert e.status == PB.table_pb2.ENTRY_FAILED
        assert e.error == f"E NPU: {SHUFFLE_ERROR} (exit status 1)"
        assert e.median_ms == 0 and e.median_ms != -1

    # the daemon predicts with it: every block of the arch measured, at the parsed values
    (pred,) = module_client.predict(arch, [hw], breakdown=True).predictions
    assert pred.table_version == 1 and not pred.estimated_from_spec
    assert pred.measured_fraction > 0
    assert pred.measured_fraction == pytest.approx(1.0)
    for b in pred.blocks:
        assert b.source == PB.table_pb2.SOURCE_MEASURED
        assert b.latency_ms == pytest.approx(logged[b.key][0])


def test_out_writes_a_csv_and_torchscript_placeholders(stand_in, tmp_path, capsys):
    log = tmp_path / "log.tsv"
    out_csv = tmp_path / "t.csv"
    # no daemon is needed (and none is asked for the hardware) with --out
    code, out, err = main(capsys, "--server", "127.0.0.1:9", "profile-external", "--method", "lone", "--space", TINY,
                          "--hardware", "offline-npu", "--format", "torchscript",
                          "--command", command(stand_in, log), "--parse", PARSE,
                          "--limit", "3", "--out", str(out_csv))
    assert code == 0, err
    assert out == f"wrote {out_csv}: 3 entries (3 measured, 0 failed)\n"
    info, entries = tablefile.read_csv_table(out_csv.read_text())
    assert info["hardware"] == "offline-npu" and info["backend"] == "external"
    assert info["space"] == "tiny" and info["tool"].endswith(f"{{model}} {log}")
    keys = tools.space_keys(TINY)[:3]
    assert [e["key"] for e in entries] == keys
    logged = read_log(log)
    assert all(logged[k][1].endswith(".pt") for k in keys)
    assert [e["median_ms"] for e in entries] == [logged[k][0] for k in keys]
    # {onnx} and {torchscript} in one command: both files exist when it runs
    both = tmp_path / "both.py"
    both.write_text("import os, sys\nassert sys.argv[1].endswith('.onnx') and "
                    "sys.argv[2].endswith('.pt')\nassert os.path.getsize(sys.argv[1]) > 0\n"
                    "assert os.path.getsize(sys.argv[2]) > 0\nprint('mean latency: 1.5 ms')\n")
    code, out, err = main(capsys, "profile-external", "--method", "lone", "--space", TINY, "--hardware", "x",
                          "--command", f"{sys.executable} {both} {{onnx}} {{torchscript}}",
                          "--parse", PARSE, "--limit", "1", "--out", str(out_csv))
    assert code == 0, err
    _, entries = tablefile.read_csv_table(out_csv.read_text())
    assert entries[0]["status"] == "ENTRY_MEASURED" and entries[0]["median_ms"] == 1.5


FAULTY = textwrap.dedent("""\
    import os, subprocess, sys, time
    key = os.environ["LUTNAS_KEY"]
    mode = {MODES}[key]
    if mode == "hang":  # a child that keeps the pipes open must die with it
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        time.sleep(60)
    elif mode == "chatty":
        print("benchmark finished, no numbers today")
    elif mode == "zero":
        print("mean latency: 0.000 ms")
    elif mode == "crash":
        sys.stderr.write("Traceback (most recent call last):\\n  ...\\n")
        sys.stderr.write("RuntimeError: out of NPU memory\\n")
        sys.exit(3)
    elif mode == "silent":
        sys.exit(2)
    else:
        print("mean latency: 0.25 ms")
""")


def test_every_failure_is_an_entry_with_a_reason(tmp_path, capsys, monkeypatch):
    keys = tools.space_keys(TINY)[:7]
    modes = dict(zip(keys, ["ok", "hang", "chatty", "zero", "crash", "silent", "export"]))
    script = tmp_path / "faulty.py"
    script.write_text(FAULTY.replace("{MODES}", repr(modes)))
    real_export = external.export_key

    def export_key(key, *a, **k):
        if modes[key] == "export":
            raise RuntimeError("Exporting the operator foo to ONNX opset 13 is not supported")
        return real_export(key, *a, **k)

    monkeypatch.setattr(external, "export_key", export_key)
    keys_file = tmp_path / "keys.txt"
    keys_file.write_text("\n".join(keys) + "\n")
    out_csv = tmp_path / "t.csv"
    t0 = time.monotonic()
    code, out, err = main(capsys, "profile-external", "--method", "lone", "--keys-file", str(keys_file),
                          "--hardware", "x", "--command", f"{sys.executable} {script} {{model}}",
                          "--parse", PARSE, "--timeout", "1", "--out", str(out_csv))
    assert code == 0, err
    assert time.monotonic() - t0 < 15  # the hung tool and its child were killed at 1 s
    info, entries = tablefile.read_csv_table(out_csv.read_text())
    assert info["space"] == "keys:keys.txt"
    by_key = {e["key"]: e for e in entries}
    assert list(by_key) == keys
    err_of = {modes[k]: by_key[k]["error"] for k in keys}
    assert by_key[keys[0]]["status"] == "ENTRY_MEASURED" and by_key[keys[0]]["median_ms"] == 0.25
    for k in keys[1:]:
        assert by_key[k]["status"] == "ENTRY_FAILED" and by_key[k]["median_ms"] == 0
    assert err_of["hang"] == "timed out after 1 s"
    assert err_of["chatty"] == (f"no latency in the output (--parse {PARSE!r} did not match): "
                                "benchmark finished, no numbers today")
    assert err_of["zero"] == "parsed latency '0.000' is not a positive number"
    assert err_of["crash"] == "RuntimeError: out of NPU memory (exit status 3)"
    assert err_of["silent"] == "exit status 2"
    assert err_of["export"] == ("export to onnx failed: RuntimeError: Exporting the operator "
                                "foo to ONNX opset 13 is not supported")


@pytest.mark.parametrize("argv,message", [
    (["--command", "true", "--parse", PARSE], "must contain {model}"),
    (["--command", "nonexistent-tool-xyz {model}", "--parse", PARSE], "command not found"),
    (["--command", "./no/such/bench.sh {model}", "--parse", PARSE], "not an executable file"),
    (["--command", "true {model}", "--parse", "mean ([0-9.]+"], "not a regular expression"),
    (["--command", "true {model}", "--parse", "mean [0-9.]+ ms"], "needs a group"),
])
def test_bad_command_or_regex_fails_before_any_export(argv, message, capsys):
    code, out, err = main(capsys, "profile-external", "--space", TINY, "--hardware", "x",
                          "--out", "/nonexistent/never-written.csv", *argv)
    assert code == 1 and out == ""
    assert err.startswith("error: --") and message in err and len(err.splitlines()) == 1


def test_usage_errors_and_unknown_hardware(module_daemon, stand_in, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["profile-external", "--hardware", "x", "--command", "true {model}",
                  "--parse", PARSE])
    assert e.value.code == 2
    assert "needs --space or --keys-file" in capsys.readouterr().err
    # a hardware the daemon does not know fails at once, before measuring anything
    log = tmp_path / "log.tsv"
    code, out, err = main(capsys, "--server", module_daemon.target, "profile-external",
                          "--space", TINY, "--hardware", "no-such-npu",
                          "--command", command(stand_in, log), "--parse", PARSE)
    assert code == 1 and "no-such-npu" in err and not log.exists()
    # an invalid key in a key list is named before anything runs
    bad = tmp_path / "bad.txt"
    bad.write_text("conv:o16,k3,s1,g1,relu@16x16x16\nconv:o16,s1,k3,g1,relu@16x16x16\n")
    code, out, err = main(capsys, "profile-external", "--keys-file", str(bad), "--hardware", "x",
                          "--command", command(stand_in, log), "--parse", PARSE, "--out",
                          str(tmp_path / "t.csv"))
    assert code == 1 and "not in canonical form" in err and not log.exists()


def test_all_failed_uploads_nothing(module_daemon, module_client, tmp_path, capsys):
    hw = "ext-npu-2"
    module_client.register_hardware(spec_hardware(hw))
    script = tmp_path / "fail.py"
    script.write_text("import sys\nprint('E: no NPU found', file=sys.stderr)\nsys.exit(1)\n")
    code, out, err = main(capsys, "--server", module_daemon.target, "profile-external",
                          "--space", TINY, "--hardware", hw, "--limit", "2",
                          "--command", f"{sys.executable} {script} {{model}}", "--parse", PARSE)
    assert code == 1
    assert "every key failed (first: E: no NPU found (exit status 1)); nothing uploaded" in err
    saved = err.rsplit("entries saved to ", 1)[1].split()[0]
    _, entries = tablefile.read_csv_table(open(saved).read())
    assert [e["status"] for e in entries] == ["ENTRY_FAILED"] * 2
    assert module_client.list_tables(hw) == []
    os.unlink(saved)


def test_json_output(module_daemon, module_client, stand_in, tmp_path, capsys):
    hw = "ext-npu-3"
    module_client.register_hardware(spec_hardware(hw))
    code, out, err = main(capsys, "--server", module_daemon.target, "profile-external",
                          "--space", TINY, "--hardware", hw, "--limit", "2", "--json",
                          "--command", command(stand_in, tmp_path / "log"), "--parse", PARSE)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["hardware"] == hw and doc["entries"] == "2" and doc["backend"] == "external"
    assert lutnas.to_dict(module_client.list_tables(hw)[0])["version"] == doc["version"]


def test_rk3588_sample_table_maps_onto_the_tiny_space(module_client):
    """search/tables/rk3588_npu_sample.yaml (scripts/demo-cross-device's NPU table, OFA
    format): every entry lands on a key of the tiny space, and tiny networks at
    resolution 64 are then partly measured on it."""
    hw = "ofa-sample-npu"
    module_client.register_hardware(spec_hardware(hw))
    text = (ROOT / "search" / "tables" / "rk3588_npu_sample.yaml").read_text()
    resp = module_client.import_table(hw, content=text, format="ofa")
    assert list(resp.unmapped) == []
    assert resp.info.entries == text.count("expanded_conv-") and resp.info.source == "import:ofa"
    _, entries = module_client.export_table(hw)
    assert {e.key for e in entries} <= set(tools.space_keys(TINY))
    (pred,) = module_client.predict(tiny_arch(16, 64), [hw]).predictions
    assert 0 < pred.measured_fraction < 1 and not pred.estimated_from_spec
