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
from lutnas.cli import _main as cli
from lutnas.insights import analysis as insights, compare as insights_compare
from lutnas import tablefile, tools
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


# ============================================================ several hardware side by side
def rule_table(keys, costs, rule, hw, space="probe+tiny"):
    return {"hardware": hw, "tool": "pytest", "space": space}, entries_for(keys, rule, costs)


@pytest.fixture(scope="module")
def compare_keys(probe_costs):
    """The probe keys and the tiny space's keys, with their costs."""
    keys, costs = probe_costs
    tiny = tools.space_keys(TINY)
    return keys + tiny, dict(costs, **tools.key_costs(tiny))


def smooth_ms(key, cost):  # MACs and bytes, no step: a CPU-like device
    return 0.02 + cost["macs"] * 1e-8 + cost["mac_bytes"] * 2e-9


def bytes_ms(key, cost):  # latency follows bytes only: a memory-bound device
    return 0.01 + cost["mac_bytes"] * 5e-9


PROBE_KEYS = set(tools.read_key_lines(PROBE.read_text()))


def npu_or_smooth(key, cost):  # the NPU-like rule on the probe's convs, smooth elsewhere
    return npu_like_ms(key, cost) if key in PROBE_KEYS else smooth_ms(key, cost)


def test_compare_three_devices_from_the_daemon(module_daemon, module_client, compare_keys,
                                               capsys, tmp_path):
    """Three devices with known rules uploaded to the real lutnasd, compared
    by `lutnas insights --hardware A,B,C`: each device's densities and step
    are its own rule's, the ranking taus are those of the block sums."""
    keys, costs = compare_keys
    rules = {"cmp-npu": npu_or_smooth, "cmp-cpu": smooth_ms, "cmp-mem": bytes_ms}
    for hw, rule in rules.items():
        module_client.register_hardware(spec_hardware(hw))
        info, entries = rule_table(keys, costs, rule, hw)
        module_client.upload_table(info, entries)
    png = tmp_path / "cmp.png"
    out, err = run_cli(capsys, "--server", module_daemon.target, "insights", "--hardware",
                       "cmp-npu,cmp-cpu", "--hardware", "cmp-mem", "--space", "tiny",
                       "--networks", "8", "--seed", "3", "-o", str(png), "--json")
    rep = json.loads(out)
    assert png.read_bytes().startswith(PNG_MAGIC) and rep["figure"] == str(png)
    assert rep["hardware"] == ["cmp-npu", "cmp-cpu", "cmp-mem"]
    assert rep["common_keys"] == len(set(keys))
    per = rep["per_hardware"]
    # the NPU-like rule: 0.01 ns/MAC for dense 3x3 at aligned widths = 100 GMAC/s,
    # 1x1 at half that, depthwise at a fifth; 3x3/1x1 = 2x, dense/depthwise = 5x (aligned)
    npu = per["cmp-npu"]
    assert npu["x16"]["best_step"] == 16 and npu["x16"]["free"] is True
    assert npu["x16"]["latency_ratio"] == pytest.approx(1.0)
    assert npu["k3_over_k1"] == pytest.approx(2.0) and npu["k3_over_k1_pairs"] == 32
    assert per["cmp-cpu"]["x16"]["best_step"] == 1 and per["cmp-cpu"]["x16"]["free"] is False
    assert per["cmp-mem"]["x16"]["best_step"] == 1
    for hw in rules:
        assert set(per[hw]["blocks"]) >= {"mbconv", "repvgg", "shuffle", "conv"}
        assert per[hw]["tool"] == "pytest" and per[hw]["version"] == 1
    # block GMAC/s are the medians of the rule's GMAC/s over each block's keys
    mb = [k for k in keys if k.startswith("mbconv:")]
    want = float(np.median([costs[k]["macs"] / (smooth_ms(k, costs[k]) * 1e6) for k in mb]))
    assert per["cmp-cpu"]["blocks"]["mbconv"]["median_gmacs"] == pytest.approx(want)

    # ranking: the same 8 tiny networks, block sums of each rule, tau per pair
    r = rep["ranking"]
    assert len(r["networks"]) == 8 and r["measured"] is False
    assert "measured_pairs" not in r
    sums = {hw: [] for hw in rules}
    for n in r["networks"]:
        blocks = insights_compare.network_blocks(
            next(x for x in insights_compare.sample_networks(str(TINY), 8, 3)
                 if x["hash"] == n["hash"])["arch"])["keys"]
        for hw, rule in rules.items():
            want_ms = sum(rule(k, costs[k]) for k in blocks)
            assert n["table_ms"][hw] == pytest.approx(want_ms)
            sums[hw].append(want_ms)
    pairs = {(p["a"], p["b"]): p for p in r["table_pairs"]}
    assert list(pairs) == [("cmp-npu", "cmp-cpu"), ("cmp-npu", "cmp-mem"), ("cmp-cpu", "cmp-mem")]
    for (a, b), p in pairs.items():
        assert p["n"] == 8
        assert p["tau"] == pytest.approx(insights.kendall_tau_b(sums[a], sums[b]))
    assert r["table_vs_macs"]["cmp-cpu"]["tau"] == pytest.approx(
        insights.kendall_tau_b(sums["cmp-cpu"], [n["macs"] for n in r["networks"]]))

    text, _ = run_cli(capsys, "--server", module_daemon.target, "insights",
                      "cmp-npu,cmp-cpu,cmp-mem", "--space", "tiny", "--networks", "8",
                      "--seed", "3")
    assert text.startswith("# lutnas insights: cmp-npu vs cmp-cpu vs cmp-mem\n")
    assert "| 3x3 / 1x1, matched pairs | 2.00x |" in text
    assert "| best step (fit of padded costs) | 16 | 1 | 1 |" in text
    assert "## Ranking of the same 8 networks" in text
    assert "table predictions (block sums) only" in text


def test_compare_table_files_and_e2e(module_daemon, module_client, compare_keys, capsys,
                                     tmp_path):
    """Table files (two files of one hardware merged) beside a table read from
    the daemon, and end-to-end latencies from an --e2e file: measured taus."""
    keys, costs = compare_keys
    module_client.register_hardware(spec_hardware("cmp-d"))
    info, entries = rule_table(keys, costs, smooth_ms, "cmp-d")
    module_client.upload_table(info, entries)
    half = len(keys) // 2
    info, entries = rule_table(keys, costs, bytes_ms, "file-hw")
    f1, f2 = tmp_path / "a.csv", tmp_path / "b.json"
    f1.write_text(tablefile.csv_text(entries[:half], info=info))
    f2.write_text(json.dumps({"info": info, "entries": entries[half:]}))
    nets = insights_compare.sample_networks(str(TINY), 5, 9)
    measured_order = [4, 2, 0, 1, 3]  # made-up end-to-end ranks for file-hw
    for i, n in enumerate(nets):
        n["measured"] = {"file-hw": {"median_ms": 1.0 + measured_order[i]},
                         "cmp-d": {"median_ms": 1.0 + i}}
    e2e = tmp_path / "e2e.json"
    e2e.write_text(json.dumps({"networks": nets, "tools": {"file-hw": "made up"}}))
    out, _ = run_cli(capsys, "--server", module_daemon.target, "insights", "--hardware",
                     "file-hw,cmp-d", "--table", str(f1), "--table", str(f2), "--e2e", str(e2e),
                     "--json")
    rep = json.loads(out)
    assert rep["per_hardware"]["file-hw"]["files"] == [str(f1), str(f2)]
    assert rep["per_hardware"]["file-hw"]["all_keys"] == len(set(keys))
    r = rep["ranking"]
    assert r["measured"] is True and len(r["networks"]) == 5
    m = r["measured_pairs"][0]
    assert (m["a"], m["b"], m["n"]) == ("file-hw", "cmp-d", 5)
    assert m["tau"] == pytest.approx(insights.kendall_tau_b(measured_order, list(range(5))))
    assert rep["e2e"]["tools"] == {"file-hw": "made up"} and rep["e2e"]["run_to_run"] == {}
    # a second run of the same draw: medians of the runs, and the run-to-run tau
    second = [1, 0, 2, 3, 4]
    for i, n in enumerate(nets):
        n["measured"] = {"cmp-d": {"median_ms": 2.0 + second[i]}}
    e2e2 = tmp_path / "e2e2.json"
    e2e2.write_text(json.dumps({"networks": nets}))
    out, _ = run_cli(capsys, "--server", module_daemon.target, "insights", "--hardware",
                     "file-hw,cmp-d", "--table", str(f1), "--table", str(f2), "--e2e", str(e2e),
                     "--e2e", str(e2e2), "--json")
    rep2 = json.loads(out)
    rtr = rep2["e2e"]["run_to_run"]
    assert list(rtr) == ["cmp-d"] and rtr["cmp-d"]["n"] == 5
    assert rtr["cmp-d"]["tau"] == pytest.approx(insights.kendall_tau_b(list(range(5)), second))
    got = [n["measured_ms"]["cmp-d"] for n in rep2["ranking"]["networks"]]
    assert got == pytest.approx([(1.0 + i + 2.0 + second[i]) / 2 for i in range(5)])
    assert [n["measured_ms"]["file-hw"] for n in rep2["ranking"]["networks"]] == \
        [1.0 + m for m in measured_order]  # measured in one run only
    other = tmp_path / "other-draw.json"
    other.write_text(json.dumps({"networks": nets[:3]}))
    code = cli.main(["--server", module_daemon.target, "insights", "--hardware", "file-hw,cmp-d",
                     "--table", str(f1), "--e2e", str(e2e), "--e2e", str(other)])
    _, err = capsys.readouterr()
    assert code == 1 and "not the same draw" in err
    text, _ = run_cli(capsys, "--server", module_daemon.target, "insights", "--hardware",
                      "file-hw,cmp-d", "--table", str(f1), "--table", str(f2), "--e2e",
                      str(e2e))
    assert "measured end to end through each runtime" in text
    assert "| device | tau(table, MACs) | tau(measured, MACs) | tau(table, measured) |" in text


def test_compare_errors(module_daemon, module_client, compare_keys, capsys, tmp_path):
    def fails(*argv):
        code = cli.main(["--server", module_daemon.target, "insights", *argv])
        _, err = capsys.readouterr()
        assert code == 1 and err.startswith("error: "), err
        return err

    keys, costs = compare_keys
    info, entries = rule_table(keys[:20], costs, smooth_ms, "x1")
    f = tmp_path / "x1.csv"
    f.write_text(tablefile.csv_text(entries, info=info))
    assert "names a hardware twice" in fails("--hardware", "x1,x1", "--table", str(f))
    assert "no-such-hw" in fails("--hardware", "x1,no-such-hw", "--table", str(f),
                                 "--networks", "0")
    other = tmp_path / "other.csv"
    info2, entries2 = rule_table(keys[50:60], costs, smooth_ms, "x2")
    other.write_text(tablefile.csv_text(entries2, info=info2))
    err = fails("--table", str(f), "--table", str(other), "--networks", "0")
    assert "share no measured key" in err and "x1 20 keys" in err
    err = fails("--hardware", "x1,x2", "--table", str(f), "--table", str(other), "--e2e",
                str(tmp_path / "missing.json"))
    assert "--e2e" in err and "missing.json" in err
    bad = tmp_path / "bad.json"
    bad.write_text('{"networks": [{"name": "a"}]}')
    err = fails("--hardware", "x1,x2", "--table", str(f), "--table", str(other), "--e2e", str(bad))
    assert "networks[0] needs an 'arch' object" in err
    assert "--networks: must be >= 0" in fails("--hardware", "x1,x2", "--table", str(f),
                                                "--table", str(other), "--networks", "-1")
    assert "--space nope: no such space file" in fails(
        "--hardware", "x1,x2", "--table", str(f), "--table", str(other), "--space", "nope")
    assert "--e2e: only with several hardware" in fails("x1", "--table", str(f), "--e2e",
                                                         str(bad))
    assert "name a hardware" in fails()
    assert "--version: one hardware only" in fails("--hardware", "x1,x2", "--table", str(f),
                                                   "--table", str(other), "--version", "2")
    assert "--table: files of x2, which --hardware does not name" in fails(
        "--hardware", "x1,cmp-d", "--table", str(f), "--table", str(other))


VENV_PY = ROOT / ".venv" / "bin" / "python"
BENCHMARK_APP = ROOT / ".venv" / "bin" / "benchmark_app"


def _venv_has_ort():
    return VENV_PY.exists() and subprocess.run(
        [str(VENV_PY), "-c", "import onnxruntime, torch"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _venv_has_ort() or not BENCHMARK_APP.exists(),
                    reason=".venv has no onnxruntime/openvino (run scripts/bootstrap)")
def test_e2e_runs_through_real_runtimes(module_daemon, module_client, compare_keys, capsys,
                                        tmp_path):
    """bench/bench_insights_e2e.py measures 3 tiny networks end to end through
    real ONNX Runtime and OpenVINO (both through lutnas' runner, the commands the
    tables are validated with); insights ranks them."""
    out = tmp_path / "e2e.json"
    r = subprocess.run([str(VENV_PY), str(ROOT / "bench" / "bench_insights_e2e.py"), "--space",
                        str(TINY), "--networks", "3", "--seed", "2", "--runtimes",
                        "host-ort,host-openvino", "--out", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads(out.read_text())
    assert [n["hash"] for n in doc["networks"]] == \
        [n["hash"] for n in insights_compare.sample_networks(str(TINY), 3, 2)]
    assert "onnxruntime 1.26.0" in doc["tools"]["host-ort"]
    assert doc["tools"]["host-openvino"].startswith("scripts/lutnas bench-onnx --runtime openvino")
    assert "openvino 2026.4.1" in doc["tools"]["host-openvino"]
    for n in doc["networks"]:
        for hw in ("host-ort", "host-openvino"):
            m = n["measured"][hw]
            assert 0 < m["median_ms"] < 1000 and m["p10_ms"] <= m["median_ms"] <= m["p90_ms"]
            assert m["samples"] >= 45 * 3  # --rounds 45, >= 3 runs a round
    keys, costs = compare_keys
    for hw, rule in (("host-ort", smooth_ms), ("host-openvino", bytes_ms)):
        info, entries = rule_table(keys, costs, rule, hw)
        f = tmp_path / f"{hw}.csv"
        f.write_text(tablefile.csv_text(entries, info=info))
    text, _ = run_cli(capsys, "insights", "--table", str(tmp_path / "host-ort.csv"), "--table",
                      str(tmp_path / "host-openvino.csv"), "--e2e", str(out))
    assert "| host-ort vs host-openvino |" in text
    assert "measured end to end through each runtime" in text
    for n in doc["networks"]:
        assert f"`{n['hash']}`" in text


def test_merge_entries_takes_the_median_of_runs(capsys, tmp_path):
    """Files of one hardware: distinct keys are joined; a key measured in
    several files (runs) gets the median of their medians; a key failed in one
    run and measured in another keeps the measurement."""
    def e(key, ms, status="ENTRY_MEASURED"):
        return {"key": key, "median_ms": ms, "p10_ms": ms, "p90_ms": ms, "status": status}

    a, b, c = "conv:o8,k3,s1,g1,relu@8x28x28", "conv:o16,k3,s1,g1,relu@16x28x28", \
        "conv:o24,k3,s1,g1,relu@24x28x28"
    runs = [[e(a, 1.0), e(b, 2.0)], [e(a, 3.0), e(b, 0.0, "ENTRY_FAILED")], [e(a, 1.5), e(c, 4.0)]]
    got = {x["key"]: x for x in insights.merge_entries(runs)}
    assert got[a]["median_ms"] == 1.5 and got[a]["runs"] == 3
    assert got[b]["median_ms"] == 2.0 and "runs" not in got[b]
    assert got[c]["median_ms"] == 4.0
    two = {x["key"]: x for x in insights.merge_entries(runs[:2])}
    assert two[a]["median_ms"] == 2.0 and two[a]["p10_ms"] in (1.0, 3.0)
    # the same through the CLI: three run files of one hardware
    paths = []
    for i, r in enumerate(runs):
        p = tmp_path / f"run{i}.csv"
        p.write_text(tablefile.csv_text(r, info={"hardware": "runs-hw"}))
        paths += ["--table", str(p)]
    keys = [a, b, c]
    costs = tools.key_costs(keys)
    out, _ = run_cli(capsys, "insights", *paths, "--json")
    rep = json.loads(out)
    assert rep["hardware"] == "runs-hw" and rep["measured"] == 3
    want = [1.5, 2.0, 4.0]
    assert rep["kendall"]["latency_vs_macs"] == pytest.approx(
        insights.kendall_tau_b(want, [costs[k]["macs"] for k in keys]))
