"""`lutnas insights`: the statistics on their own, then reports on tables
uploaded to the real lutnasd whose latencies follow known rules (costs from the
real lutnas-inspect), on the probe key list and on the tiny space's key set."""

import itertools
import json
import math
import subprocess
import sys

import numpy as np
import pytest

import lutnas
from lutnas import cli, insights, tablefile, tools
from conftest import ROOT, spec_hardware

PROBE = ROOT / "search" / "keys" / "insights_probe.txt"
TINY = ROOT / "search" / "spaces" / "tiny.json"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# ============================================================ statistics


def tau_b_by_pairs(x, y):
    """Kendall tau-b straight from its definition, pair by pair."""
    nc = nd = tx = ty = 0
    for i, j in itertools.combinations(range(len(x)), 2):
        dx, dy = x[i] - x[j], y[i] - y[j]
        if dx == 0 and dy == 0:
            continue
        if dx == 0:
            tx += 1
        elif dy == 0:
            ty += 1
        elif dx * dy > 0:
            nc += 1
        else:
            nd += 1
    return (nc - nd) / math.sqrt((nc + nd + tx) * (nc + nd + ty))


def test_kendall_tau_b():
    assert insights.kendall_tau_b([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert insights.kendall_tau_b([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    # textbook case: 5 points, one discordant pair of 10 -> (9 - 1) / 10
    assert insights.kendall_tau_b([1, 2, 3, 4, 5], [1, 2, 3, 5, 4]) == pytest.approx(0.8)
    assert math.isnan(insights.kendall_tau_b([1, 2, 3], [5, 5, 5]))
    assert math.isnan(insights.kendall_tau_b([1], [1]))
    rng = np.random.default_rng(1)
    for _ in range(20):
        x = rng.integers(0, 6, 30).tolist()  # many ties on both sides
        y = rng.integers(0, 6, 30).tolist()
        assert insights.kendall_tau_b(x, y) == pytest.approx(tau_b_by_pairs(x, y))
    with pytest.raises(ValueError):
        insights.kendall_tau_b([1, 2], [1])


def test_nnls_fit():
    rng = np.random.default_rng(2)
    X = np.column_stack([rng.uniform(1, 10, 50), rng.uniform(1, 10, 50), np.ones(50)])
    y = X @ np.array([0.5, 0.2, 0.1])
    coef, sse = insights.nnls_fit(X, y)
    assert coef == pytest.approx([0.5, 0.2, 0.1]) and sse == pytest.approx(0, abs=1e-12)
    # a rule with a negative coefficient: the fit keeps every coefficient >= 0
    coef, _ = insights.nnls_fit(X, X @ np.array([0.5, -0.2, 3.0]))
    assert np.all(coef >= 0) and coef[1] == 0


def test_parse_key_and_labels():
    p = insights.parse_key("conv:o32,k3,s1,g32,relu@32x28x28")
    assert p == {"type": "conv", "fields": {"o": 32, "k": 3, "s": 1, "g": 32}, "act": "relu",
                 "flags": [], "cin": 32, "h": 28, "w": 28}
    assert insights.conv_kind(p) == "depthwise" and insights.block_label(p) == "dwconv"
    assert insights.family_label(p) == "dwconv k3 s1 relu"
    p = insights.parse_key("mbconv:o24,e6,k3,s2,se0,relu6@16x56x56")
    assert p["fields"] == {"o": 24, "e": 6, "k": 3, "s": 2, "se": 0} and p["act"] == "relu6"
    assert insights.block_label(p) == "mbconv" and insights.conv_kind(p) is None
    p = insights.parse_key("repvgg:o32,s1,g1,deploy,relu@32x8x8")
    assert p["flags"] == ["deploy"] and insights.family_label(p) == "repvgg g1 s1 deploy relu"
    assert insights.block_label(insights.parse_key("conv:o16,k3,s2,g1,relu@3x64x64")) == "conv"
    assert insights.block_label(insights.parse_key("conv:o16,k3,s1,g4,relu@16x8x8")) == "gconv"
    assert insights.parse_key("head:c0,relu,f0,n100@64x4x4")["type"] == "head"


# ============================================================ the probe key list


def test_probe_key_list_is_generated_and_valid(tmp_path):
    keys = tools.read_key_lines(PROBE.read_text())
    assert len(keys) == 96 and len(set(keys)) == 96
    costs = tools.key_costs(keys)  # lutnas-inspect accepts every key
    assert set(costs) == set(keys)
    kinds = {(insights.conv_kind(insights.parse_key(k)), insights.parse_key(k)["fields"]["k"])
             for k in keys}
    assert kinds == {("dense", 3), ("dense", 1), ("depthwise", 3)}
    widths = sorted({insights.parse_key(k)["fields"]["o"] for k in keys})
    assert widths == list(range(8, 129, 8))
    assert "conv:o24,k3,s1,g24,relu@24x56x56" in keys
    assert "conv:o128,k1,s1,g1,relu@128x28x28" in keys
    # the committed file is what the script writes
    out = tmp_path / "probe.txt"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_probe_keys.py"), "-o", str(out)],
                   check=True, capture_output=True)
    assert out.read_text() == PROBE.read_text()


# ============================================================ synthetic devices
PER_MAC_NS = {("dense", 3): 0.01, ("dense", 1): 0.02, ("depthwise", 3): 0.05}


def npu_like_ms(key, cost, step=16):
    """An NPU-like rule: channels are computed in groups of `step` (a width
    costs what the next multiple costs: input and output channels of a dense
    conv, the channels of a depthwise one), depthwise convs take 5x the time
    per MAC of dense 3x3 ones, 1x1 convs 2x."""
    p = insights.parse_key(key)
    kind, o = insights.conv_kind(p), p["fields"]["o"]
    up = -(-o // step) * step
    pad = up / o if kind == "depthwise" else (up / o) ** 2
    return cost["macs"] * pad * PER_MAC_NS[(kind, p["fields"]["k"])] * 1e-6


@pytest.fixture(scope="module")
def probe_costs():
    keys = tools.read_key_lines(PROBE.read_text())
    return keys, tools.key_costs(keys)


def entries_for(keys, rule, costs):
    return [{"key": k, "median_ms": rule(k, costs[k]), "iqr_ms": 0.0, "p10_ms": rule(k, costs[k]),
             "p90_ms": rule(k, costs[k]), "samples": 5, "status": "ENTRY_MEASURED"} for k in keys]


def run_cli(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out, err


def test_npu_like_rule_is_found(module_daemon, module_client, probe_costs, capsys, tmp_path):
    keys, costs = probe_costs
    hw = "ins-npu"
    module_client.register_hardware(spec_hardware(hw))
    entries = entries_for(keys, npu_like_ms, costs)
    entries[5] = {"key": entries[5]["key"], "status": "ENTRY_FAILED", "error": "no kernel"}
    module_client.upload_table({"hardware": hw, "tool": "pytest", "space": "probe"}, entries)
    out, _ = run_cli(capsys, "--server", module_daemon.target, "insights", hw, "--json")
    rep = json.loads(out)
    assert (rep["hardware"], rep["version"], rep["measured"], rep["failed"]) == (hw, 1, 95, 1)
    assert rep["failed_by_block"] == {"conv": 1}

    a = rep["alignment"]
    assert a["best_step"] == 16
    assert a["testable_steps"] == [16, 32]  # every probe width is a multiple of 8
    assert len(a["families"]) == 6 and all(f["best_step"] == 16 for f in a["families"])
    assert a["step_fit_error"]["16"] < 0.01 < 0.1 < a["step_fit_error"]["1"]
    assert a["step_fit_error"]["32"] > a["step_fit_error"]["16"]
    m16, m32 = a["multiples"]["16"], a["multiples"]["32"]
    assert m16["free"] and m16["latency_ratio"] == pytest.approx(1.0)
    assert m16["freeness"] == pytest.approx(1.0) and m16["macs_ratio"] < 0.9
    assert not m32["free"] and m32["freeness"] < 0.5
    assert not a["multiples"]["8"]["testable"] and not a["multiples"]["4"]["testable"]
    assert a["verdict"].startswith("latency steps every 16 channels")

    e = rep["efficiency"]
    assert e["depthwise"]["n"] == 32 and e["dense"]["n"] == 63
    # like for like (same kernel, width, input) on widths the step does not pad: exactly 5x
    assert e["aligned_step"] == 16 and e["aligned_pairs"] == 15  # 16 less the failed o48
    assert e["aligned_dense_over_depthwise"] == pytest.approx(5.0)
    assert e["matched_dense_over_depthwise"] == pytest.approx(5.0, rel=0.1)
    assert e["dense_over_depthwise"] > 1
    assert set(e["blocks"]) == {"conv", "dwconv"}

    k = rep["kernel_density"]
    assert k["k3"]["n"] + k["k1"]["n"] == 63
    assert k["matched_k3_over_k1"] == pytest.approx(2.0) and k["matched_pairs"] == 31
    assert k["k3_over_k1"] == pytest.approx(2.0, rel=0.1)

    t = rep["kendall"]
    ms = [en["median_ms"] for en in entries if en["status"] == "ENTRY_MEASURED"]
    macs = [costs[en["key"]]["macs"] for en in entries if en["status"] == "ENTRY_MEASURED"]
    assert t["n"] == 95
    assert t["latency_vs_macs"] == pytest.approx(insights.kendall_tau_b(ms, macs))

    # the text report says the same, with numbers
    out, _ = run_cli(capsys, "--server", module_daemon.target, "insights", hw)
    assert out.startswith(f"# lutnas insights: {hw}\n")
    assert "latency steps every 16 channels" in out
    assert "| 16 | 47 | 1.00 |" in out  # 47 widths below a multiple of 16 cost the same
    assert "5.00x over the 15 pairs whose width is a multiple of 16" in out
    assert "2.00x over 31 pairs of the same width and input" in out
    assert "## (e) Ranking: Kendall tau-b" in out


def test_smooth_device_has_no_step(probe_costs):
    keys, costs = probe_costs

    def smooth(key, cost):  # launch overhead + MACs + bytes, no channel step
        return 0.02 + cost["macs"] * 1e-8 + cost["mac_bytes"] * 2e-9

    rep, _ = insights.analyze({"hardware": "cpu"}, entries_for(keys, smooth, costs), costs)
    a = rep["alignment"]
    assert a["best_step"] == 1 and a["verdict"].startswith("no channel step")
    assert a["step_fit_error"]["1"] == pytest.approx(0, abs=1e-6)
    assert not a["multiples"]["16"]["free"]
    assert rep["efficiency"]["aligned_pairs"] is None


def test_tiny_space_key_set(module_daemon, module_client, capsys, tmp_path):
    """The tiny space's real keys: latency = known a*MACs + b*bytes + c, mbconv
    memory-heavier; the fit recovers the rule, shares add up, figure drawn."""
    keys = tools.space_keys(TINY)
    costs = tools.key_costs(keys)
    a_ms_per_mmac, b_ms_per_mib, c_ms = 0.3, 0.8, 0.01

    def rule(key, cost):
        return a_ms_per_mmac * cost["macs"] / 1e6 + b_ms_per_mib * cost["mac_bytes"] / 2**20 + c_ms

    hw = "ins-tiny"
    module_client.register_hardware(spec_hardware(hw))
    entries = entries_for(keys, rule, costs)
    shuffles = [i for i, e in enumerate(entries) if e["key"].startswith("shuffle:")]
    for i in shuffles:
        entries[i] = {"key": entries[i]["key"], "status": "ENTRY_FAILED", "error": "unsupported"}
    module_client.upload_table({"hardware": hw, "tool": "pytest", "space": "tiny"}, entries)
    module_client.upload_table({"hardware": hw, "tool": "pytest", "space": "tiny"}, entries[:5])
    png = tmp_path / "report.png"
    out, err = run_cli(capsys, "--server", module_daemon.target, "insights", hw, "--version", "1",
                       "-o", str(png), "--json")
    assert png.read_bytes().startswith(PNG_MAGIC)
    rep = json.loads(out)
    assert rep["version"] == 1 and rep["figure"] == str(png)
    assert rep["measured"] == len(keys) - len(shuffles) and rep["failed"] == len(shuffles)
    assert rep["failed_by_block"] == {"shuffle": len(shuffles)}
    # too few widths per conv family in the tiny space for (a): said, not guessed
    assert rep["alignment"]["best_step"] is None and rep["alignment"]["families"] == []
    assert "insights_probe.txt" in rep["alignment"]["verdict"]
    fit = rep["memory"]["fit"]
    assert fit["ms_per_mmac"] == pytest.approx(a_ms_per_mmac, rel=1e-6)
    assert fit["ms_per_mib"] == pytest.approx(b_ms_per_mib, rel=1e-6)
    assert fit["overhead_ms"] == pytest.approx(c_ms, rel=1e-6)
    assert fit["median_rel_error"] == pytest.approx(0, abs=1e-9)
    by = rep["memory"]["by_block"]
    assert set(by) == {"conv", "head", "mbconv", "repvgg"}
    for b, s in by.items():
        assert s["macs_share"] + s["bytes_share"] + s["overhead_share"] == pytest.approx(1.0)
        rows = [k for k in keys if insights.block_label(insights.parse_key(k)) == b]
        t_m = sum(a_ms_per_mmac * costs[k]["macs"] / 1e6 for k in rows)
        t_b = sum(b_ms_per_mib * costs[k]["mac_bytes"] / 2**20 for k in rows)
        assert s["bytes_share"] == pytest.approx(t_b / (t_m + t_b + c_ms * len(rows)), rel=1e-6)
    assert by["head"]["bytes_share"] > 0.5 > by["repvgg"]["bytes_share"]
    for d in rep["memory"]["bytes_bound_keys"]:
        assert d["bytes_share"] > d["macs_share"]
    measured = [e for e in entries if e["status"] == "ENTRY_MEASURED"]
    t = rep["kendall"]
    assert t["latency_vs_bytes"] == pytest.approx(insights.kendall_tau_b(
        [e["median_ms"] for e in measured], [costs[e["key"]]["mac_bytes"] for e in measured]))
    eff = rep["efficiency"]
    assert eff["mbconv_over_conv"] == pytest.approx(
        eff["blocks"]["mbconv"]["median_gmacs"] / eff["blocks"]["conv"]["median_gmacs"])
    assert eff["blocks"]["repvgg"]["n"] == sum(k.startswith("repvgg:") for k in keys)

    # the same numbers from a table file (no daemon needed), and as text
    csv = tmp_path / "t.csv"
    info, ents = module_client.export_table(hw, 1)
    csv.write_text(tablefile.csv_text((lutnas.to_dict(e) for e in ents), info=lutnas.to_dict(info)))
    out2, _ = run_cli(capsys, "insights", hw, "--table", str(csv), "--json")
    rep2 = json.loads(out2)
    assert rep2["memory"] == rep["memory"] and rep2["kendall"] == rep["kendall"]
    text, err = run_cli(capsys, "insights", hw, "--table", str(csv), "-o", str(png))
    assert f"wrote {png}" in err and "## (d) Memory-bound blocks" in text
    assert "Fit over 82 keys: latency = 300 ms/GMAC * MACs + 0.8 ms/MiB * bytes + 0.01 ms" in text
    assert "no conv family with >= 4 widths" in text


def test_errors(module_daemon, module_client, capsys, tmp_path):
    code = cli.main(["--server", module_daemon.target, "insights", "no-such-hw"])
    _, err = capsys.readouterr()
    assert code == 1 and err.startswith("error: ") and "no-such-hw" in err
    module_client.register_hardware(spec_hardware("ins-empty"))
    code = cli.main(["--server", module_daemon.target, "insights", "ins-empty"])
    _, err = capsys.readouterr()
    assert code == 1 and err.startswith("error: ")
    f = tmp_path / "failed.csv"
    f.write_text("key,median_ms,status,error\nconv:o8,k3,s1,g1,relu@8x8x8,,failed,boom\n")
    code = cli.main(["insights", "x", "--table", str(f)])
    _, err = capsys.readouterr()
    assert code == 1 and err == "error: table of x has no measured entry\n"
