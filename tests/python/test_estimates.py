"""Honest answers outside the table, against the real daemon (issue 10,
items 3 and 4): PredictResponse names the missing keys and how each was
estimated, flags low confidence by share of time, the CLI warns;
`lutnas-profile table --arch ... --server` measures exactly the missing keys
into a new table version (old entries + new ones, in the old reference's
units); `lutnas predict --measure-missing` does it in one step."""

import io
import json
import subprocess
import sys

import pytest

from conftest import PB, ROOT, block_keys, hardware_with_table, lutnasd_path, tiny_arch
from conftest import run_cli as conftest_run_cli
from lutnas.cli import _main as cli
from lutnas.measure.estimates import LOW_CONFIDENCE_MEASURED_FRACTION, missing_keys, warning_lines

PROFILE = lutnasd_path().parent / "lutnas-profile"


def run_cli(target, *argv):
    return conftest_run_cli(target, *argv, timeout=120)


def profile(*argv):
    if not PROFILE.exists():
        pytest.skip(f"{PROFILE} is not built")
    return subprocess.run([str(PROFILE), *map(str, argv)], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)


@pytest.fixture(scope="module")
def srv(module_daemon):
    return module_daemon.target


@pytest.fixture(scope="module")
def api(module_client):
    return module_client


def test_predict_names_missing_keys_and_how(api):
    hardware_with_table(api, "est-npu")  # keys of tiny_arch(16, 64) and (24, 96)
    full = api.predict(tiny_arch(16, 64), ["est-npu"]).predictions[0]
    assert full.measured_fraction == 1.0
    assert list(full.missing_keys) == [] and len(full.estimated_keys) == 0
    assert not full.low_confidence
    # Width 32 at 64 px: the mbconv, conv and head keys change, the stem does not.
    arch = tiny_arch(32, 64)
    resp = api.predict(arch, ["est-npu"])
    (p,) = resp.predictions
    table_keys = set(block_keys(api, [tiny_arch(16, 64), tiny_arch(24, 96)], "est-npu"))
    needed = block_keys(api, [arch], "est-npu")
    expect = [k for k in needed if k not in table_keys]
    assert expect and len(expect) < len(needed)
    assert list(p.missing_keys) == expect
    assert missing_keys(resp) == {"est-npu": expect}
    assert [e.key for e in p.estimated_keys] == expect
    est_ms = 0.0
    for e in p.estimated_keys:
        assert e.method and e.latency_ms > 0 and list(e.where)
        assert e.source == PB.table_pb2.SOURCE_INTERPOLATED  # each type has measured relatives
        assert e.basis_key.split(":")[0] == e.key.split(":")[0]
        est_ms += e.latency_ms * len(e.where)
    assert est_ms / p.sum_ms == pytest.approx(1 - p.measured_fraction, rel=1e-9)
    assert sum(e.share for e in p.estimated_keys) == pytest.approx(1 - p.measured_fraction)
    assert p.low_confidence == (p.measured_fraction < LOW_CONFIDENCE_MEASURED_FRACTION)
    # The breakdown tells the same story per block.
    (b,) = api.predict(arch, ["est-npu"], breakdown=True).predictions
    assert list(b.missing_keys) == expect
    estimated_blocks = {x.key for x in b.blocks if x.source != PB.table_pb2.SOURCE_MEASURED}
    assert estimated_blocks == set(expect)
    # PredictBatch answers carry the list too.
    (r,) = api.predict_batch([arch], ["est-npu"])
    assert list(r.predictions[0].missing_keys) == expect


def test_spec_only_prediction_is_low_confidence(api):
    arch = json.loads((ROOT / "models/mobilenet_v2.json").read_text())
    (p,) = api.predict(arch, ["rk3588-npu"]).predictions
    assert p.estimated_from_spec and p.low_confidence and p.measured_fraction == 0
    assert len(p.missing_keys) == len(p.estimated_keys) > 10
    assert all(e.source == PB.table_pb2.SOURCE_ROOFLINE for e in p.estimated_keys)
    (line,) = warning_lines([p])
    assert line.startswith("warning: rk3588-npu: LOW CONFIDENCE, 100% of the predicted time")


def test_cli_warns_and_lists_estimates(srv, api, tmp_path):
    hardware_with_table(api, "est-cli")
    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps(tiny_arch(32, 64)))
    (p,) = api.predict(tiny_arch(32, 64), ["est-cli"]).predictions
    code, out, err = run_cli(srv, "predict", str(arch), "--hardware", "est-cli")
    assert code == 0, err
    warn = [ln for ln in err.splitlines() if ln.startswith("warning: est-cli:")]
    assert len(warn) == 1
    assert f"{1 - p.measured_fraction:.0%} of the predicted time is estimated" in warn[0]
    assert f"{len(p.missing_keys)} keys not in table v1" in warn[0]
    assert ("LOW CONFIDENCE" in warn[0]) == p.low_confidence
    code, out, err = run_cli(srv, "predict", str(arch), "--hardware", "est-cli", "--breakdown")
    assert code == 0, err
    assert "est-cli: estimated keys (table 1):" in out
    for k in p.missing_keys:
        assert k in out
    # Fully measured: no warning.
    arch.write_text(json.dumps(tiny_arch(16, 64)))
    code, out, err = run_cli(srv, "predict", str(arch), "--hardware", "est-cli")
    assert code == 0 and "warning" not in err
    # --json keeps stdout pure JSON and has the fields.
    arch.write_text(json.dumps(tiny_arch(32, 64)))
    code, out, err = run_cli(srv, "predict", str(arch), "--hardware", "est-cli", "--json")
    doc = json.loads(out)
    assert doc["predictions"][0]["missing_keys"] == list(p.missing_keys)


def test_pareto_plot_marks_estimated_candidates(tmp_path):
    from lutnas.plot import plot_pareto

    pts = [(1.0, 1.0), (2.0, 2.0), (3.0, 2.5)]
    out = tmp_path / "p.png"
    front = plot_pareto(pts, str(out), "x", estimated=[1])
    assert front == [0, 1, 2] and out.stat().st_size > 1000


def _host_hw(api, name):
    api.register_hardware({"name": name, "description": "this CPU (pytest)",
                           "backend": "libtorch-cpu", "precision": "fp32", "threads": 1,
                           "channel_alignment": 1, "precisions": ["fp32"], "source": "pytest"})


def test_table_arch_measures_missing_keys_into_a_merged_version(api, srv, tmp_path):
    hw = "host-pytest-merge"
    _host_hw(api, hw)
    a1, a2 = tmp_path / "a1.json", tmp_path / "a2.json"
    a1.write_text(json.dumps(tiny_arch(16, 64, name="a1")))
    a2.write_text(json.dumps(tiny_arch(24, 64, name="a2")))
    # No table yet: the first version holds exactly a1's keys.
    # --accept-noisy: this test is about merging; a busy box must not refuse it
    # (test_table_refuses_a_noisy_measurement is about that).
    r = profile("table", "--arch", a1, "--hardware", hw, "--server", srv, "--rounds", "2", "--json",
                "--accept-noisy")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["version"] == 1 and doc["base_version"] == 0 and doc["failed"] == 0
    v1_keys = block_keys(api, [tiny_arch(16, 64)], hw)
    assert doc["missing"] == v1_keys and doc["measured"] == len(v1_keys)
    (p2,) = api.predict(tiny_arch(24, 64), [hw]).predictions
    assert 0 < p2.measured_fraction < 1
    want = list(p2.missing_keys)
    # a2 needs a few more: version 2 = version 1's entries + exactly those.
    r = profile("table", "--arch", a1, a2, "--hardware", hw, "--server", srv, "--rounds", "2",
                "--json", "--accept-noisy")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["base_version"] == 1 and doc["version"] == 2 and doc["missing"] == want
    assert doc["entries"] == len(v1_keys) + len(want)
    assert f"uploaded {hw} table version 2" in r.stderr
    old = {e.key: e for e in api.export_table(hw, 1)[1]}
    info2, new = api.export_table(hw, 2)
    new = {e.key: e for e in new}
    assert set(new) == set(old) | set(want)
    for k, e in old.items():  # old entries unchanged
        assert new[k].median_ms == e.median_ms and new[k].p90_ms == e.p90_ms
    info1, _ = api.export_table(hw, 1)
    assert info2.reference_ms == info1.reference_ms > 0  # one time unit
    assert info2.source == "merge:profile" and info2.threads == 1
    (p,) = api.predict(tiny_arch(24, 64), [hw]).predictions
    assert p.table_version == 2 and p.measured_fraction == 1.0 and not p.missing_keys
    # Nothing missing: no new version.
    r = profile("table", "--arch", a2, "--hardware", hw, "--server", srv, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["version"] == 0
    assert "nothing to measure" in r.stderr
    assert max(t.version for t in api.list_tables(hw)) == 2


def test_predict_measure_missing_in_one_step(api, srv, tmp_path):
    hw = "host-pytest-mm"
    _host_hw(api, hw)
    a1 = tmp_path / "a1.json"
    a1.write_text(json.dumps(tiny_arch(16, 64, name="a1")))
    r = profile("table", "--arch", a1, "--hardware", hw, "--server", srv, "--rounds", "2",
                "--accept-noisy")
    assert r.returncode == 0, r.stderr
    a2 = tmp_path / "a2.json"
    a2.write_text(json.dumps(tiny_arch(24, 96, name="a2")))
    (before,) = api.predict(tiny_arch(24, 96), [hw]).predictions
    assert before.missing_keys
    code, out, err = run_cli(srv, "predict", str(a2), "--hardware", hw, "--measure-missing",
                             "--rounds", "2", "--accept-noisy")
    assert code == 0, err
    assert f"measuring {len(before.missing_keys)} missing keys on {hw}" in err
    assert f"uploaded {hw} table version 2" in err
    # No estimate warning once measured (a busy box may add noise warnings).
    assert not [ln for ln in err.splitlines()
                if "warning" in ln and "warning: noisy" not in ln], err
    row = [ln for ln in out.splitlines() if ln.startswith(hw + " ")][0]
    assert row.split()[1] == "v2" and row.split()[4] == "100%"
    # A device that is not this machine: refused, naming the keys.
    hardware_with_table(api, "est-remote")
    a3 = tmp_path / "a3.json"
    a3.write_text(json.dumps(tiny_arch(32, 64, name="a3")))
    code, out, err = run_cli(srv, "predict", str(a3), "--hardware", "est-remote",
                             "--measure-missing")
    (p,) = api.predict(tiny_arch(32, 64), ["est-remote"]).predictions
    assert p.missing_keys
    assert code == 1 and "est-remote is not this machine" in err
    assert p.missing_keys[0] in err


def test_table_arch_bad_input(api, srv, tmp_path):
    r = profile("table", "--arch", "--hardware", "host-cpu", "--server", srv)
    assert r.returncode == 2 and "--arch: at least one architecture file is needed" in r.stderr
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"resolution": 64, "stages": [{"blocks": [
        {"conv": {"out_channels": 16, "kernel": 4, "stride": 1}}]}]}))
    r = profile("table", "--arch", bad, "--hardware", "host-cpu", "--server", srv)
    assert r.returncode == 2 and "kernel" in r.stderr
    # A table measured by another runtime cannot be extended here.
    hardware_with_table(api, "est-rknn")
    ok = tmp_path / "ok.json"
    ok.write_text(json.dumps(tiny_arch(32, 64)))
    r = profile("table", "--arch", ok, "--hardware", "est-rknn", "--server", srv)
    assert r.returncode == 2 and "backend 'rknn'" in r.stderr and "missing_keys" in r.stderr
    r = profile("table", "--arch", ok, "--hardware", "no-such-hw", "--server", srv)
    assert r.returncode == 1 and "no-such-hw" in r.stderr


def test_table_leaves_out_only_keys_that_do_not_reproduce(api, srv, tmp_path):
    """`lutnas-profile table` handles noise by statistics (issue 24): the
    reference's drift refuses nothing; a key whose two halves of rounds do not
    agree is measured again and, if it still does not, named and left out of
    the table (exit 0, --resume measures it again). Both directions on a real
    run: a key tolerance of 0 (LUTNAS_TABLE_KEY_TOLERANCE) makes every key
    fail (any two halves differ), a huge one none, and drift limits of 0 no
    longer refuse anything."""
    import os

    hw = "host-pytest-noisy"
    _host_hw(api, hw)
    keys = tmp_path / "keys.txt"
    keys.write_text("conv:o16,k3,s2,g1,relu@3x32x32\nconv:o16,k3,s1,g1,relu@16x16x16\n")
    strict = dict(os.environ, LUTNAS_TABLE_KEY_TOLERANCE="0")
    lax = dict(os.environ, LUTNAS_TABLE_KEY_TOLERANCE="1e9", LUTNAS_TABLE_MAX_DRIFT="0",
               LUTNAS_TABLE_MAX_SPREAD="0")

    def table(*argv, env=strict):
        if not PROFILE.exists():
            pytest.skip(f"{PROFILE} is not built")
        return subprocess.run([str(PROFILE), "table", *map(str, argv)], capture_output=True,
                              text=True, timeout=300, cwd=ROOT, env=env)

    out = tmp_path / "t.csv"
    r = table("--keys", keys, "--hardware", hw, "--out", out, "--rounds", "4")
    assert r.returncode == 0, r.stderr
    # Which keys fail at tolerance 0 is up to the machine: a key whose rounds
    # normalise to identical values (the middle workload of a median polish,
    # a coarse thread clock) reproduces even then. At least one fails, and
    # every failing key is measured again, named, and left out.
    import re

    failed = re.findall(r"warning: key (\S+) did not reproduce: its first and second half of ",
                        r.stderr)
    assert failed, r.stderr
    n = len(set(failed))
    assert f"{n} key(s) did not reproduce within their rounds: measuring them again" in r.stderr \
        or "did not reproduce within their rounds: measuring them again" in r.stderr, r.stderr
    text = out.read_text()
    rows = [ln for ln in text.splitlines() if "@" in ln and not ln.startswith("#")]
    for k in set(failed):
        assert f"# not reproduced (left out): {k}: did not reproduce" in text
        assert not any(ln.startswith(k + ",") for ln in rows)  # --resume measures it again
    assert f"warning: {n} of 2 keys did not reproduce twice and were left out" in r.stderr
    assert len(rows) == 2 - n
    # --accept-noisy keeps them, marked in the file.
    r = table("--keys", keys, "--hardware", hw, "--out", out, "--rounds", "4", "--accept-noisy")
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert "# not reproduced (kept: --accept-noisy): conv:o16,k3," in text
    assert len([ln for ln in text.splitlines() if ",measured," in ln]) == 2
    # The other direction, to a server: drift limits of 0 refuse nothing now,
    # every key reproduces within a huge tolerance, all uploaded.
    r = table("--keys", keys, "--hardware", hw, "--server", srv, "--rounds", "4", env=lax)
    assert r.returncode == 0 and f"uploaded {hw} table version 1" in r.stderr, r.stderr
    assert "did not reproduce" not in r.stderr
    assert [t.entries for t in api.list_tables(hw)] == [2]
    # The missing keys of an architecture (table --arch): a key that does not
    # reproduce refuses that measurement, nothing uploaded.
    a1 = tmp_path / "a1.json"
    a1.write_text(json.dumps(tiny_arch(16, 64, name="a1")))
    r = table("--arch", a1, "--hardware", hw, "--server", srv, "--rounds", "4")
    assert r.returncode == 3, r.stderr
    assert "did not reproduce" in r.stderr and "nothing was uploaded" in r.stderr
    assert [t.entries for t in api.list_tables(hw)] == [2]
    # A malformed limit is bad input, named.
    r = table("--keys", keys, "--hardware", hw, "--out", out,
              env=dict(os.environ, LUTNAS_TABLE_MAX_DRIFT="five"))
    assert r.returncode == 2
    assert "LUTNAS_TABLE_MAX_DRIFT: must be a fraction >= 0 (e.g. 0.05), got 'five'" in r.stderr
