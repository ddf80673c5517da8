"""The public benchmarks' spaces (NAS-Bench-201, FBNet) and tables fitted from
whole-network measurements (lutnas.benchdata). No daemon needed: these spaces
live in Python; the data is the repository's data/benchmarks/."""

import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "clients" / "python"))
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

np = pytest.importorskip("numpy")
pytest.importorskip("scipy")

from lutnas.benchdata import data, fbnet, fit, nb201  # noqa: E402

A1 = "|skip_connect~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_1x1~0|nor_conv_1x1~1|none~2|"
NO_PATH = "|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|none~0|none~1|none~2|"
F1 = ("k5_e6-skip-k3_e1_g2-skip-k5_e1-skip-skip-skip-k5_e6-k5_e1-k3_e1_g2-k5_e1-k5_e6-k3_e6-"
      "k3_e3-k5_e6-k3_e6-k3_e3-k5_e1-k3_e3-k5_e1-k5_e1_g2")


def test_data_is_in_the_repository():
    d = ROOT / "data" / "benchmarks"
    for f in ("README.md", "NOTICE", "LICENSE.OneProxy-MIT", "LICENSE.HELP-MIT",
              "LICENSE.NASLib-Apache-2.0", *data.FILES.values()):
        assert (d / f).exists(), f
    assert len(data.load("nb201_devices").archs) == 1999
    assert len(data.load("nb201_help").archs) == 15625
    assert len(data.load("fbnet_devices").archs) == 5000
    assert len(data.load("nb201_accuracy").archs) == 725


def test_nb201_params_and_flops_equal_the_published_columns_for_all_725():
    ds = data.load("nb201_accuracy")
    for arch, params_m, flops_m in zip(ds.archs, ds.columns["params"], ds.columns["flops"]):
        cell = nb201.parse(arch)
        assert round(nb201.cost(cell, pruned=False).params / 1e6, 6) == pytest.approx(params_m, abs=1e-9), arch
        # the CSV prints 8 significant digits (NASLib stored float32)
        assert nb201.published_flops(cell) / 1e6 == pytest.approx(flops_m, rel=1e-7), arch


def test_nb201_exact_params_and_macs():
    cell = nb201.parse(A1)
    assert nb201.to_string(cell) == A1
    full, live = nb201.cost(cell, pruned=False), nb201.cost(cell, pruned=True)
    assert (full.params, full.macs) == (615386, 86426240)
    # node 2 does not reach the output (its only way out, 3<-2, is none): its two 3x3 convs are dead
    assert nb201.live_edges(cell) == (True, False, False, True, True, False)
    assert (live.params, live.macs) == (129306, 15647360)
    torch = pytest.importorskip("torch")
    assert nb201.count_params(nb201.build(cell)) == 615386
    assert nb201.count_params(nb201.build(cell, pruned=True)) == 129306
    with torch.no_grad():
        assert nb201.build(cell, pruned=True).eval()(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_nb201_dead_edges_and_no_path():
    # 1<-0 conv3x3 reaches the output only through 3<-1; 2<-* are none: node 2 is dead
    cell = nb201.parse("|nor_conv_3x3~0|+|avg_pool_3x3~0|none~1|+|skip_connect~0|nor_conv_1x1~1|none~2|")
    assert nb201.live_edges(cell) == (True, False, False, True, True, False)
    keys = nb201.key_counts(cell)
    assert keys["nb201/dead_avg_pool_3x3/c16r32"] == 5  # reached from the input, reaches nothing
    assert keys["nb201/nor_conv_3x3/e10/c32r16"] == 5
    assert keys["nb201/add/c64r8"] == 5  # node 3 sums two live edges
    assert nb201.NO_PATH_KEY not in keys
    # an edge that cannot be reached from the input is dead too
    cell = nb201.parse("|none~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|none~1|skip_connect~2|")
    assert nb201.live_edges(cell) == (False, True, False, False, False, True)
    # no path: nothing in the cell costs, the network is its own key, no constant
    cell = nb201.parse(NO_PATH)
    assert not nb201.has_path(cell) and not any(nb201.live_edges(cell))
    assert nb201.cost(cell) == nb201.fixed_cost()
    assert nb201.key_counts(cell) == {"nb201/dead_nor_conv_3x3/c16r32": 5, "nb201/dead_nor_conv_3x3/c32r16": 5,
                                      "nb201/dead_nor_conv_3x3/c64r8": 5, "nb201/dead_nor_conv_1x1/c16r32": 5,
                                      "nb201/dead_nor_conv_1x1/c32r16": 5, "nb201/dead_nor_conv_1x1/c64r8": 5,
                                      nb201.NO_PATH_KEY: 1}
    assert data.space("nb201").has_const(A1) and not data.space("nb201").has_const(NO_PATH)
    assert sum(not nb201.has_path(c) for c in nb201.all_cells()) == 341


def test_nb201_parse_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown op 'conv'"):
        nb201.parse("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    with pytest.raises(ValueError, match="node 2 needs 2 edges"):
        nb201.parse("|none~0|+|none~0|+|none~0|none~1|none~2|")


def test_fbnet_exact_params_and_macs():
    arch = fbnet.parse(F1)
    c = fbnet.cost(arch)
    assert (c.params, c.macs) == (1790500, 67605376)
    assert [(l.cin, l.cout, l.stride, l.hw_in) for l in fbnet.LAYERS[4:6]] == [(24, 24, 1, 32), (24, 32, 2, 32)]
    skips = fbnet.cost(fbnet.parse("-".join(["skip"] * 22)))
    # stem 3x3 3->16 (432 + 32), 1x1 transitions 16->24, 24->32, 32->64, 64->112, 112->184, 184->352
    # (each + BN), head 352->1504 (+BN), linear 1504->100
    trans = [(16, 24), (24, 32), (32, 64), (64, 112), (112, 184), (184, 352)]
    assert skips.params == (432 + 32 + sum(a * b + 2 * b for a, b in trans) + 352 * 1504 + 2 * 1504
                            + 1504 * 100 + 100)
    torch = pytest.importorskip("torch")
    model = fbnet.build(arch)
    assert sum(p.numel() for p in model.parameters()) == 1790500
    with torch.no_grad():
        assert model.eval()(torch.zeros(1, 3, 32, 32)).shape == (1, 100)


def test_onnx_export_of_both_spaces(tmp_path):
    pytest.importorskip("torch")
    for path, export in ((tmp_path / "n.onnx", lambda p: nb201.export_onnx(nb201.parse(A1), p)),
                         (tmp_path / "z.onnx", lambda p: nb201.export_onnx(nb201.parse(NO_PATH), p)),
                         (tmp_path / "f.onnx", lambda p: fbnet.export_onnx(fbnet.parse(F1), p))):
        export(str(path))
        assert path.stat().st_size > 1000
        try:
            import onnxruntime as ort
        except ImportError:
            continue
        s = ort.InferenceSession(str(path))
        assert [i.name for i in s.get_inputs()] == ["input"]  # a no-path network keeps its input


def _synthetic(space, archs, seed):
    """A random positive table and the noise-free latencies it gives."""
    rng = np.random.default_rng(seed)
    names, x = fit.design(space, archs)
    t = rng.uniform(0.01, 0.2, len(names) + 1)
    t[-1] = 1.0
    return names, x, t, x @ t


@pytest.mark.parametrize("space_name,file", [("nb201", "nb201_devices"), ("fbnet", "fbnet_devices")])
def test_fit_recovers_a_synthetic_additive_table(space_name, file):
    space, ds = data.space(space_name), data.load(file)
    archs = ds.archs[:1500]
    names, x, t, y = _synthetic(space, archs, 0)
    k = 400 if space_name == "fbnet" else 150
    table = fit.fit_table(space, archs[:k], y[:k], device="synthetic")
    pred = x[k:] @ table.vector(names)
    assert np.max(np.abs(pred / y[k:] - 1)) < 0.01
    assert table.loo["within10"] == 1.0
    assert all(v >= 0 for v in table.keys.values())
    if space_name == "nb201":  # identifiable: per op and edge, the sum over the three stages
        got, want = table.vector(names), t
        for op in ("nor_conv_3x3", "avg_pool_3x3"):
            idx = [i for i, n in enumerate(names) if n.startswith(f"nb201/{op}/e10/")]
            assert got[idx].sum() == pytest.approx(want[idx].sum(), rel=0.02)


def test_fit_is_robust_and_non_negative():
    space, ds = data.space("nb201"), data.load("nb201_devices")
    names, x, _, y = _synthetic(space, ds.archs[:300], 1)
    y_bad = y[:100].copy()
    y_bad[3] *= 10  # one broken measurement
    table = fit.fit_table(space, ds.archs[:100], y_bad)
    err = np.abs(x[100:] @ table.vector(names) / y[100:] - 1)
    assert np.mean(err < 0.10) > 0.95 and np.median(err) < 0.02
    plain = fit.fit_table(space, ds.archs[:100], y_bad, robust=False)
    assert np.median(np.abs(x[100:] @ plain.vector(names) / y[100:] - 1)) > 2 * np.median(err)
    assert min(table.keys.values()) >= 0 and table.const_ms >= 0


def test_fit_refuses_too_few_networks():
    space, ds = data.space("nb201"), data.load("nb201_devices")
    with pytest.raises(fit.TooFewNetworks, match="at least 5 distinct measured networks, got 4"):
        fit.fit_table(space, ds.archs[:4], ds.columns["true_a76"][:4])
    with pytest.raises(fit.TooFewNetworks, match="got 1"):  # duplicates count once
        fit.fit_table(space, [ds.archs[0]] * 6, [1.0] * 6)


def test_table_fit_cli(tmp_path, capsys):
    from lutnas.cli import _main as cli
    out = tmp_path / "a76.json"
    csv_path = str(ROOT / "data" / "benchmarks" / "nb201_devices.csv")
    assert cli.main(["table", "fit", csv_path, "--column", "true_a76", "--limit", "50",
                     "-o", str(out)]) == 0
    table = fit.Table.load(str(out))
    assert table.space == "nb201" and table.device == "true_a76"
    assert table.provenance["networks"] == 50 and table.provenance["column"] == "true_a76"
    assert 0.9 <= table.loo["within10"] <= 1.0
    assert "leave-one-out" in capsys.readouterr().out
    # a prior from another device's table
    assert cli.main(["table", "fit", csv_path, "--column", "true_640", "--limit", "20",
                     "--prior", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["provenance"]["prior"] == "true_a76"
    assert cli.main(["table", "fit", csv_path, "--column", "eagle_jetson", "--limit", "10",
                     "--prior", str(out), "--prior", str(out), "--json"]) == 0  # several: their mixture
    assert json.loads(capsys.readouterr().out)["provenance"]["prior"] == "device-mixture"
    assert cli.main(["table", "fit", csv_path, "--column", "true_a76", "--limit", "3"]) == 1
    assert "at least 5 distinct measured networks" in capsys.readouterr().err
    assert cli.main(["table", "fit", csv_path, "--suggest", "4"]) == 0
    assert len(capsys.readouterr().out.split()) == 4


def test_proxies_are_deterministic_for_a_seed():
    pytest.importorskip("torch")
    from lutnas.benchdata import proxies
    cell = nb201.parse(A1)
    z = [proxies.zen_score(nb201.build(cell, pruned=True), seed=3) for _ in range(2)]
    n = [proxies.naswot_score(nb201.build(cell, pruned=True), seed=3) for _ in range(2)]
    assert z[0] == z[1] and n[0] == n[1]
    assert np.isfinite(z[0]) and np.isfinite(n[0])
    # a network whose output does not depend on its input has a zero-variance BN: -inf, as in C++
    assert proxies.zen_score(nb201.build(nb201.parse(NO_PATH), pruned=True)) == -np.inf


# --- the short form of bench/table_fit_public.py --------------------------------------------

def test_table_fit_on_public_devices_short_form():
    """Fits from K random networks of nn-Meter's A76 and BRP-NAS's Jetson Nano
    columns predict the other ~1,900: the shares within +-10% the full benchmark
    reports, at fixed seeds (numerics, not timing)."""
    space, ds = data.space("nb201"), data.load("nb201_devices")
    names, x = fit.design(space, ds.archs)
    got = {}
    for dev in ("true_a76", "eagle_jetson"):
        y = np.array(ds.columns[dev])
        for k in (20, 100):
            shares = []
            for seed in range(2):
                idx = np.random.default_rng(1000 + seed).permutation(len(y))
                tr, te = idx[:k], idx[k:]
                table = fit.fit_table(space, [ds.archs[i] for i in tr], y[tr], device=dev)
                shares.append(fit.accuracy(x[te] @ table.vector(names), y[te])["within10"])
            got[(dev, k)] = float(np.mean(shares))
    assert got[("true_a76", 100)] >= 0.97 and got[("eagle_jetson", 100)] >= 0.97, got
    assert got[("true_a76", 20)] >= 0.90 and got[("eagle_jetson", 20)] >= 0.90, got
