"""`lutnas insights --hardware A,B,C`: several devices' tables side by side.

Each hardware's table (from lutnasd, or from --table files: a file's
`# hardware:` header says whose it is, several files of one hardware are
merged, a key in several files (runs) taking the median of their medians) is reduced to the keys measured on every
one of them, so each number compares the same convs and blocks; then for each:

- effective GMAC/s (MACs / latency, median over keys) of dense 3x3, dense 1x1
  and depthwise 3x3 convs, and the matched ratios 3x3 / 1x1 and dense /
  depthwise (same shapes) of `lutnas insights` sections (b) and (c);
- the x16 alignment step: section (a)'s best step, its fit errors at steps 1
  and 16, and the mean latency ratio of widths 16k-8 to 16k (1 = the missing
  channels are free, the MACs ratio = latency follows MACs);
- the median GMAC/s of each block type (MBConv, RepVGG, ShuffleNet, CSP, OSA,
  fused MBConv, plain conv) and each one's ratio to plain convs;
- the ranking of the same N networks of the space (lutnas-inspect's draw,
  --networks, --seed) by each table's block sum, and Kendall tau-b between
  every pair of hardware; with --e2e FILE (bench/bench_insights_e2e.py), the
  same taus of the networks measured end to end by each runtime, and each
  table's tau against its own runtime's measurements.
"""

import json
import os
import sys
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

from . import analysis as insights
from .. import tablefile, tools
from . import _common

if TYPE_CHECKING:
    from ..client import Client

Entry = Dict[str, Any]
Table = Tuple[str, Dict[str, Any], List[Entry]]  # (hardware, info, entries)

BLOCKS = ("mbconv", "fused_mbconv", "repvgg", "shuffle", "csp", "osa", "conv")
BLOCK_NAMES = {"mbconv": "MBConv", "fused_mbconv": "fused MBConv", "repvgg": "RepVGG",
               "shuffle": "ShuffleNet", "csp": "CSP", "osa": "OSA", "conv": "plain conv"}
SHOWCASE = "dense 3x3 s1 relu @56x56, in = width"


class CompareError(insights.InsightsError):
    """Tables that cannot be compared; the message names the option."""


# ============================================================ loading
def _read_file(path: str) -> Tuple[Dict[str, Any], List[Entry]]:
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise CompareError(f"--table {path}: {e.strerror or e}") from None
    try:
        if path.lower().endswith(".json"):
            info, entries = tablefile.read_json(text)
        else:
            info, entries = tablefile.read_csv_table(text)
    except tablefile.TableFileError as e:
        raise CompareError(f"--table {path}: {e}") from None
    return dict(info), list(entries)


def load_tables(hardware: Sequence[str], files: Sequence[str],
                client: Optional["Client"]) -> List[Table]:
    """[(hardware, info, entries)] in the order of `hardware` (default: the
    files' hardware in file order). A hardware with --table files is read from
    them, the others from lutnasd (latest version)."""
    from_files: "OrderedDict[str, Tuple[Dict[str, Any], List[List[Entry]], List[str]]]"
    from_files = OrderedDict()
    for path in files:
        info, entries = _read_file(path)
        hw = str(info.get("hardware") or "")
        if not hw:
            if len(hardware) == 1:
                hw = hardware[0]
            else:
                raise CompareError(f"--table {path}: no '# hardware:' line, so it cannot be "
                                   "matched to one of several --hardware")
        if hw not in from_files:
            from_files[hw] = (info, [], [])
        from_files[hw][1].append(entries)
        from_files[hw][2].append(path)
    names = list(hardware) or list(from_files)
    if len(set(names)) != len(names):
        raise CompareError(f"--hardware: {','.join(names)} names a hardware twice")
    unused = [hw for hw in from_files if hw not in names]
    if unused:
        raise CompareError(f"--table: files of {', '.join(unused)}, which --hardware does not "
                           "name")
    out: List[Table] = []
    for hw in names:
        if hw in from_files:
            info, runs, paths = from_files[hw]
            info = dict(info, hardware=hw, files=paths)
            out.append((hw, info, insights.merge_entries(runs)))
            continue
        if files and client is None:
            raise CompareError(f"--hardware {hw}: no --table file has '# hardware: {hw}'")
        if client is None:
            raise CompareError(f"--hardware {hw}: no table file and no daemon")
        from ..client import to_dict

        tinfo, tentries = client.export_table(hw, 0)
        out.append((hw, dict(to_dict(tinfo)), [dict(to_dict(e)) for e in tentries]))
    return out


def _measured(entries: Sequence[Entry]) -> Dict[str, Entry]:
    return {str(e["key"]): e for e in entries if _common._is_measured(e)}


# ============================================================ per hardware
def _x16(rep: Dict[str, Any]) -> Dict[str, Any]:
    a = rep["alignment"]
    m16 = a["multiples"].get("16", {"testable": False})
    out: Dict[str, Any] = {"best_step": a["best_step"],
                           "fit_error_1": a["step_fit_error"].get("1"),
                           "fit_error_16": a["step_fit_error"].get("16"),
                           "pairs": m16.get("pairs", 0)}
    if m16.get("testable"):
        out.update(latency_ratio=m16["latency_ratio"], macs_ratio=m16["macs_ratio"],
                   freeness=m16["freeness"], free=m16["free"])
    show = next((f for f in a["families"] if f["family"] == SHOWCASE), None)
    out["showcase"] = ({"family": show["family"], "widths": show["widths"],
                        "latency_ms": show["latency_ms"]} if show else None)
    return out


def summarize(rep: Dict[str, Any]) -> Dict[str, Any]:
    """The numbers of one hardware's insights report that the comparison shows."""
    k, e = rep["kernel_density"], rep["efficiency"]
    conv = e["blocks"].get("conv", {}).get("median_gmacs")
    blocks: Dict[str, Any] = OrderedDict()
    for b in BLOCKS:
        s = e["blocks"].get(b)
        if s and s["median_gmacs"]:
            blocks[b] = {"n": s["n"], "median_gmacs": s["median_gmacs"],
                         "vs_conv": _common._ratio(s["median_gmacs"], conv)}
    return {
        "tool": rep["tool"], "backend": rep["backend"], "keys": rep["measured"],
        "gmacs": {"dense3x3": k["k3"]["median_gmacs"], "dense1x1": k["k1"]["median_gmacs"],
                  "depthwise3x3": _dw3(rep)},
        "n": {"dense3x3": k["k3"]["n"], "dense1x1": k["k1"]["n"],
              "depthwise3x3": e["depthwise"]["n"]},
        "k3_over_k1": k["matched_k3_over_k1"], "k3_over_k1_pairs": k["matched_pairs"],
        "dense_over_depthwise": e["matched_dense_over_depthwise"],
        "dense_over_depthwise_pairs": e["matched_pairs"],
        "x16": _x16(rep), "blocks": blocks,
        "tau_keys_macs": rep["kendall"]["latency_vs_macs"],
    }


def _dw3(rep: Dict[str, Any]) -> Optional[float]:
    v = rep["efficiency"]["depthwise"]["median_gmacs"]
    return float(v) if v is not None else None


# ============================================================ networks
def sample_networks(space: str, n: int, seed: int) -> List[Dict[str, Any]]:
    """[{name, hash, arch}] of n distinct random networks (lutnas-inspect's draw)."""
    out = tools._run([tools.find_tool("lutnas-inspect"), "--space", space, "--sample", str(n),
                      "--seed", str(seed)], what=f"lutnas-inspect --space {space} --sample")
    return [{"name": str(d["hash"]), "hash": str(d["hash"]), "arch": d["arch"]}
            for d in json.loads(out)]


def network_blocks(arch: Dict[str, Any]) -> Dict[str, Any]:
    """{macs, params, keys} of an architecture, from `lutnas-inspect ARCH.json --json`."""
    fd, path = tempfile.mkstemp(suffix=".json", prefix="lutnas-insights-")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(arch, f)
        out = tools._run([tools.find_tool("lutnas-inspect"), path, "--json"],
                         what="lutnas-inspect --json")
    finally:
        os.unlink(path)
    d = json.loads(out)
    return {"macs": int(d["macs"]), "params": int(d["params"]),
            "keys": [str(b["key"]) for b in d["blocks"]]}


def _space_path(space: Optional[str], tables: Sequence[Table]) -> str:
    if space:
        p = Path(space)
        if not p.suffix:
            p = tools.ROOT / "search" / "spaces" / f"{space}.json"
        if not p.is_file():
            raise CompareError(f"--space {space}: no such space file ({p})")
        return str(p)
    names = {str(t[1].get("space") or "") for t in tables} - {""}
    for name in sorted(names):
        p = tools.ROOT / "search" / "spaces" / f"{name}.json"
        if p.is_file():
            return str(p)
    raise CompareError("--space: the tables name no shipped space; give --space SPACE.json")


def load_e2e(path: str) -> Dict[str, Any]:
    """The JSON of bench/bench_insights_e2e.py: {space, seed, networks: [{name,
    hash, arch, measured: {hardware: {median_ms, p10_ms, p90_ms}}}], tools}."""
    try:
        with open(path) as f:
            doc = json.load(f)
    except OSError as e:
        raise CompareError(f"--e2e {path}: {e.strerror or e}") from None
    except ValueError as e:
        raise CompareError(f"--e2e {path}: not valid JSON: {e}") from None
    nets = doc.get("networks") if isinstance(doc, dict) else None
    if not isinstance(nets, list) or not nets:
        raise CompareError(f"--e2e {path}: no 'networks' list")
    for i, n in enumerate(nets):
        if not isinstance(n, dict) or not isinstance(n.get("arch"), dict) \
                or not isinstance(n.get("measured", {}), dict):
            raise CompareError(f"--e2e {path}: networks[{i}] needs an 'arch' object and a "
                               "'measured' object")
    return dict(doc)


def _tau(a: Sequence[float], b: Sequence[float]) -> Optional[float]:
    return _common._num(insights.kendall_tau_b(list(a), list(b))) if len(a) >= 2 else None


def ranking(tables: Sequence[Table], nets: List[Dict[str, Any]],
            by_hw: Dict[str, Dict[str, Entry]]) -> Dict[str, Any]:
    """Each network's block sum on each table (None when a key is missing),
    measured latencies where given, pairwise Kendall taus of both."""
    names = [t[0] for t in tables]
    rows: List[Dict[str, Any]] = []
    for n in nets:
        cost = network_blocks(n["arch"])
        table_ms: Dict[str, Optional[float]] = {}
        for hw in names:
            ents = by_hw[hw]
            if all(k in ents for k in cost["keys"]):
                table_ms[hw] = float(sum(float(ents[k]["median_ms"]) for k in cost["keys"]))
            else:
                table_ms[hw] = None
        meas: Dict[str, Optional[float]] = {}
        for hw in names:
            m = n.get("measured", {}).get(hw)
            ms = m.get("median_ms") if isinstance(m, dict) else m
            meas[hw] = float(ms) if isinstance(ms, (int, float)) and ms > 0 else None
        rows.append({"name": n["name"], "hash": n.get("hash", n["name"]), "macs": cost["macs"],
                     "params": cost["params"], "blocks": len(cost["keys"]),
                     "table_ms": table_ms, "measured_ms": meas})

    def pair_taus(field: str) -> List[Dict[str, Any]]:
        out = []
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                both = [r for r in rows if r[field][a] is not None and r[field][b] is not None]
                out.append({"a": a, "b": b, "n": len(both),
                            "tau": _tau([r[field][a] for r in both],
                                        [r[field][b] for r in both])})
        return out

    def vs(field: str, other: str) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        for hw in names:
            rs = [r for r in rows if r[field][hw] is not None
                  and (other == "macs" or r[other][hw] is not None)]
            ys = [r["macs"] if other == "macs" else r[other][hw] for r in rs]
            out[hw] = {"n": len(rs), "tau": _tau([r[field][hw] for r in rs], ys)}
        return out

    measured_any = any(v is not None for r in rows for v in r["measured_ms"].values())
    rep: Dict[str, Any] = {
        "networks": rows,
        "table_pairs": pair_taus("table_ms"),
        "table_vs_macs": vs("table_ms", "macs"),
        "measured": measured_any,
    }
    if measured_any:
        rep["measured_pairs"] = pair_taus("measured_ms")
        rep["measured_vs_macs"] = vs("measured_ms", "macs")
        rep["table_vs_measured"] = vs("table_ms", "measured_ms")
    return rep


# ============================================================ the report
def compare(tables: Sequence[Table], nets: List[Dict[str, Any]],
            costs: Optional[Dict[str, Dict[str, Any]]] = None) -> Tuple[Dict[str, Any], Any]:
    """The comparison dict, and {hardware: insights rows} for the figure."""
    insights.require_numpy()
    if len(tables) < 2:
        raise CompareError("--hardware: name at least two hardware to compare "
                           "(one hardware: lutnas insights HARDWARE)")
    by_hw = {hw: _measured(entries) for hw, _, entries in tables}
    for hw, ents in by_hw.items():
        if not ents:
            raise CompareError(f"--hardware {hw}: its table has no measured entry")
    common = set.intersection(*(set(e) for e in by_hw.values()))
    if not common:
        raise CompareError("the tables share no measured key: nothing to compare like for like "
                           f"({', '.join(f'{hw} {len(e)} keys' for hw, e in by_hw.items())})")
    keys = sorted(common)
    if costs is None:
        costs = tools.key_costs(keys)
    per: Dict[str, Any] = OrderedDict()
    rows_of: Dict[str, Any] = {}
    for hw, info, _ in tables:
        rep, rows = insights.analyze(dict(info, hardware=hw), [by_hw[hw][k] for k in keys],
                                     costs)
        s = summarize(rep)
        s["version"] = rep["version"]
        s["files"] = info.get("files", [])
        s["all_keys"] = len(by_hw[hw])
        per[hw] = s
        rows_of[hw] = rows
    out = {"hardware": [t[0] for t in tables], "common_keys": len(keys), "per_hardware": per,
           "ranking": ranking(tables, nets, by_hw) if nets else None}
    return out, rows_of


def _f(x: Optional[float], fmt: str = ".3g") -> str:
    return _common._f(x, fmt)


def render_text(rep: Dict[str, Any], figure: Optional[str] = None) -> str:
    hws: List[str] = rep["hardware"]
    per = rep["per_hardware"]
    out = [f"# lutnas insights: {' vs '.join(hws)}", ""]
    out.append(f"Every figure below is over the {rep['common_keys']} keys measured on all "
               f"{len(hws)} devices (of " + ", ".join(f"{hw} {per[hw]['all_keys']}"
                                                    for hw in hws) + ").")
    out += [""] + [f"- `{hw}`: {per[hw]['tool'] or per[hw]['backend'] or '?'}"
                   + (f" (table v{per[hw]['version']})" if per[hw]["version"] else "")
                   for hw in hws]
    if figure:
        out += ["", f"![insights]({figure})"]

    out += ["", "## Convolution density (median effective GMAC/s)", ""]
    rows = []
    for label, k in (("dense 3x3", "dense3x3"), ("dense 1x1", "dense1x1"),
                     ("depthwise 3x3", "depthwise3x3")):
        rows.append([f"{label} ({per[hws[0]]['n'][k]} keys)"]
                    + [_f(per[hw]["gmacs"][k]) for hw in hws])
    rows.append(["3x3 / 1x1, matched pairs"] + [
        _f(per[hw]["k3_over_k1"], ".2f") + "x" if per[hw]["k3_over_k1"] else "-" for hw in hws])
    rows.append(["dense / depthwise, matched pairs"] + [
        _f(per[hw]["dense_over_depthwise"], ".2f") + "x" if per[hw]["dense_over_depthwise"]
        else "-" for hw in hws])
    out.append(_common._md_table(["convs"] + hws, rows))

    out += ["", "## The x16 alignment step", ""]
    rows = []
    rows.append(["best step (fit of padded costs)"] + [str(per[hw]["x16"]["best_step"])
                                                     for hw in hws])
    rows.append(["fit error, step 1 / step 16"] + [
        f"{_common._pct1(per[hw]['x16']['fit_error_1'])} / "
        f"{_common._pct1(per[hw]['x16']['fit_error_16'])}" for hw in hws])
    rows.append(["latency of width 16k-8 / 16k (MACs ratio)"] + [
        (f"{per[hw]['x16']['latency_ratio']:.2f} ({per[hw]['x16']['macs_ratio']:.2f})"
         if "latency_ratio" in per[hw]["x16"] else "-") for hw in hws])
    rows.append(["freeness of the missing channels"] + [
        _f(per[hw]["x16"].get("freeness"), ".2f") for hw in hws])
    out.append(_common._md_table(["", *hws], rows))
    out += ["", "Freeness (r - c) / (1 - c) from latency ratio r and MACs ratio c: 1 when a width "
            "costs what the next multiple of 16 costs, 0 when latency follows MACs, above 1 when "
            "the unaligned width is slower than the aligned one."]
    show = [(hw, per[hw]["x16"]["showcase"]) for hw in hws if per[hw]["x16"]["showcase"]]
    if show:
        widths = show[0][1]["widths"]
        out += ["", f"Latency (ms) of {SHOWCASE} by width:", ""]
        trows = []
        for i, w in enumerate(widths):
            trows.append([str(w)] + [f"{s['latency_ms'][i]:.4g}" if i < len(s["latency_ms"])
                                     else "-" for _, s in show])
        out.append(_common._md_table(["width"] + [hw for hw, _ in show], trows))

    out += ["", "## Block types (median effective GMAC/s; x: relative to plain convs)", ""]
    rows = []
    for b in BLOCKS:
        if not any(b in per[hw]["blocks"] for hw in hws):
            continue
        n = next(per[hw]["blocks"][b]["n"] for hw in hws if b in per[hw]["blocks"])
        cells = []
        for hw in hws:
            s = per[hw]["blocks"].get(b)
            cells.append("-" if not s else f"{s['median_gmacs']:.3g}"
                         + (f" ({s['vs_conv']:.2f}x)" if s["vs_conv"] and b != "conv" else ""))
        rows.append([f"{BLOCK_NAMES[b]} ({n} keys)"] + cells)
    out.append(_common._md_table(["block"] + hws, rows))
    out += ["", "Kendall tau of key latency vs MACs: " + ", ".join(
        f"{hw} {_f(per[hw]['tau_keys_macs'], '.3f')}" for hw in hws) + "."]

    r = rep["ranking"]
    if r:
        out += ["", f"## Ranking of the same {len(r['networks'])} networks", ""]
        src = ("measured end to end through each runtime" if r["measured"]
               else "table predictions (block sums) only")
        out.append(f"Latencies: table block sums; {src}.")
        out += ["", "Kendall tau-b between each pair of devices:", ""]
        prow = []
        for i, p in enumerate(r["table_pairs"]):
            cells = [f"{p['a']} vs {p['b']}", _f(p["tau"], ".3f") + f" (n={p['n']})"]
            if r["measured"]:
                m = r["measured_pairs"][i]
                cells.append(_f(m["tau"], ".3f") + f" (n={m['n']})")
            prow.append(cells)
        out.append(_common._md_table(
            ["pair", "tau, table sums"] + (["tau, measured end to end"] if r["measured"] else []),
            prow))
        rtr = (rep.get("e2e") or {}).get("run_to_run") or {}
        if rtr:
            out += ["", "Run-to-run Kendall tau of the same networks measured again by the same "
                    "runtime, mean (least) over pairs of runs (the noise floor: a pairwise tau "
                    "near it says nothing about the runtimes): " + ", ".join(
                        f"{hw} {_f(d['tau'], '.3f')} ({_f(d['tau_min'], '.3f')}; {d['runs']} runs)"
                        for hw, d in rtr.items()) + "; measured latencies are the medians of "
                    "the runs."]
        out += ["", "Each device against MACs (and its table against its own measurements):", ""]
        vrows = []
        for hw in hws:
            cells = [hw, _f(r["table_vs_macs"][hw]["tau"], ".3f")]
            if r["measured"]:
                cells += [_f(r["measured_vs_macs"][hw]["tau"], ".3f"),
                          _f(r["table_vs_measured"][hw]["tau"], ".3f")
                          + f" (n={r['table_vs_measured'][hw]['n']})"]
            vrows.append(cells)
        out.append(_common._md_table(
            ["device", "tau(table, MACs)"]
            + (["tau(measured, MACs)", "tau(table, measured)"] if r["measured"] else []), vrows))
        field = "measured_ms" if r["measured"] else "table_ms"
        ranks = _ranks(r["networks"], hws, field)
        out += ["", f"Networks ({'measured' if r['measured'] else 'table'} ms, rank 1 = fastest):",
                ""]
        nrows = []
        order = sorted(range(len(r["networks"])), key=lambda i: r["networks"][i]["macs"])
        for i in order:
            n = r["networks"][i]
            nrows.append([f"`{n['name']}`", f"{n['macs'] / 1e6:.0f}"] + [
                (f"{n[field][hw]:.3g} (#{ranks[hw][i]})" if n[field][hw] is not None else "-")
                for hw in hws])
        out.append(_common._md_table(["network", "MMACs"] + hws, nrows))
    return "\n".join(out) + "\n"


def _ranks(nets: Sequence[Dict[str, Any]], hws: Sequence[str],
           field: str) -> Dict[str, Dict[int, int]]:
    out: Dict[str, Dict[int, int]] = {}
    for hw in hws:
        idx = [i for i, n in enumerate(nets) if n[field][hw] is not None]
        idx.sort(key=lambda i: float(nets[i][field][hw]))
        out[hw] = {i: r + 1 for r, i in enumerate(idx)}
    return out


# ============================================================ figure
def plot(rep: Dict[str, Any], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    hws: List[str] = rep["hardware"]
    per = rep["per_hardware"]
    colors = plt.get_cmap("tab10")
    fig, axes = plt.subplots(2, 2, figsize=(13, 9.5), dpi=110)
    try:
        width = 0.8 / len(hws)

        def bars(ax: Any, labels: List[str], values: Dict[str, List[Optional[float]]]) -> None:
            x = np.arange(len(labels))
            for j, hw in enumerate(hws):
                vals = [v if v else 0.0 for v in values[hw]]
                ax.bar(x + (j - (len(hws) - 1) / 2) * width, vals, width, label=hw,
                       color=colors(j))
                for xi, v in zip(x, vals):
                    if v:
                        ax.text(xi + (j - (len(hws) - 1) / 2) * width, v, f"{v:.2g}",
                                ha="center", va="bottom", fontsize=6)
            ax.set_xticks(x)
            ax.set_xticklabels(labels, fontsize=8)
            ax.set_yscale("log")
            positive = [v for hw in hws for v in values[hw] if v]
            if positive:
                ax.set_ylim(min(positive) / 2, max(positive) * 2)
            ax.grid(True, axis="y", alpha=0.3, which="both")
            ax.legend(fontsize=8)

        ax = axes[0][0]
        kinds = [("dense 3x3", "dense3x3"), ("dense 1x1", "dense1x1"),
                 ("depthwise 3x3", "depthwise3x3")]
        bars(ax, [k[0] for k in kinds], {hw: [per[hw]["gmacs"][k[1]] for k in kinds]
                                         for hw in hws})
        ax.set_ylabel("median effective GMAC/s")
        ax.set_title("convolution density", fontsize=10)

        ax = axes[0][1]
        blocks = [b for b in BLOCKS if all(b in per[hw]["blocks"] for hw in hws)]
        bars(ax, [BLOCK_NAMES[b] for b in blocks],
             {hw: [per[hw]["blocks"][b]["median_gmacs"] for b in blocks] for hw in hws})
        ax.set_ylabel("median effective GMAC/s")
        ax.set_title("block types", fontsize=10)
        ax.tick_params(axis="x", labelrotation=20)

        ax = axes[1][0]
        drawn = False
        for j, hw in enumerate(hws):
            s = per[hw]["x16"]["showcase"]
            if not s:
                continue
            ws, ms = s["widths"], s["latency_ms"]
            base = ms[-1]
            ax.plot(ws, [m / base for m in ms], "o-", ms=3, color=colors(j),
                    label=f"{hw} (best step {per[hw]['x16']['best_step']})")
            drawn = True
        if drawn:
            top = max(max(per[hw]["x16"]["showcase"]["widths"]) for hw in hws
                      if per[hw]["x16"]["showcase"])
            for m in range(16, top + 16, 16):
                ax.axvline(m, color="#4c566a", lw=0.6, ls="--", alpha=0.5)
            ax.set_xlabel("width (channels); dashed: multiples of 16")
            ax.set_ylabel("latency / latency at the widest")
            ax.legend(fontsize=8)
            ax.grid(True, alpha=0.3)
        else:
            ax.text(0.5, 0.5, "no dense 3x3 family with enough widths\n"
                    "(measure search/keys/insights_probe.txt)", ha="center", va="center",
                    transform=ax.transAxes)
            ax.set_axis_off()
        ax.set_title(f"x16 alignment: {SHOWCASE}", fontsize=10)

        ax = axes[1][1]
        r = rep["ranking"]
        if r:
            field = "measured_ms" if r["measured"] else "table_ms"
            ranks = _ranks(r["networks"], hws, field)
            for i in range(len(r["networks"])):
                ys = [ranks[hw].get(i) for hw in hws]
                xs = [j for j, y in enumerate(ys) if y is not None]
                ax.plot(xs, [ys[j] for j in xs], "o-", ms=3, alpha=0.7)
            ax.set_xticks(range(len(hws)))
            ax.set_xticklabels(hws, fontsize=8)
            ax.set_ylabel("rank (1 = fastest)")
            ax.invert_yaxis()
            pairs = r["measured_pairs"] if r["measured"] else r["table_pairs"]
            taus = ", ".join(f"{p['a']}/{p['b']} {_f(p['tau'], '.2f')}" for p in pairs)
            ax.set_title(f"{len(r['networks'])} networks, "
                         f"{'measured' if r['measured'] else 'table sums'}; tau: {taus}",
                         fontsize=8)
            ax.grid(True, axis="y", alpha=0.3)
        else:
            ax.set_axis_off()
        fig.suptitle(f"lutnas insights: {' vs '.join(hws)} ({rep['common_keys']} common keys)")
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)


# ============================================================ the command
def merge_e2e(paths: Sequence[str]) -> Tuple[List[Dict[str, Any]], Dict[str, Any]]:
    """The networks of several --e2e files of the same draw: each hardware's
    latency is the median over the files that measured it; also each
    hardware's run-to-run Kendall tau (mean and least over every pair of runs),
    the noise floor the pairwise taus are to be read against."""
    docs = [load_e2e(p) for p in paths]
    first = docs[0]["networks"]
    names = [str(n.get("hash") or n.get("name")) for n in first]
    for p, d in zip(paths[1:], docs[1:]):
        if [str(n.get("hash") or n.get("name")) for n in d["networks"]] != names:
            raise CompareError(f"--e2e {p}: other networks than {paths[0]} (not the same draw)")
    runs: Dict[str, List[List[Optional[float]]]] = {}
    for d in docs:
        hws = {hw for n in d["networks"] for hw in n.get("measured", {})}
        for hw in sorted(hws):
            col: List[Optional[float]] = []
            for n in d["networks"]:
                m = n.get("measured", {}).get(hw)
                ms = m.get("median_ms") if isinstance(m, dict) else m
                col.append(float(ms) if isinstance(ms, (int, float)) and ms > 0 else None)
            runs.setdefault(hw, []).append(col)
    nets: List[Dict[str, Any]] = []
    for i, n in enumerate(first):
        meas: Dict[str, Any] = {}
        for hw, cols in runs.items():
            vals = sorted(v for v in (c[i] for c in cols) if v is not None)
            if vals:
                mid = len(vals) // 2
                med = vals[mid] if len(vals) % 2 else (vals[mid - 1] + vals[mid]) / 2
                meas[hw] = {"median_ms": med, "runs": len(vals)}
        nets.append(dict(n, name=str(n.get("name") or n.get("hash") or i), measured=meas))
    repeat: Dict[str, Any] = {}
    for hw, cols in runs.items():
        taus: List[float] = []
        n_min = len(names)
        for i, ca in enumerate(cols):
            for cb in cols[i + 1:]:
                both = [(a, b) for a, b in zip(ca, cb) if a is not None and b is not None]
                t = _tau([a for a, _ in both], [b for _, b in both])
                n_min = min(n_min, len(both))
                if t is not None:
                    taus.append(t)
        if taus:
            repeat[hw] = {"runs": len(cols), "n": n_min, "tau": sum(taus) / len(taus),
                          "tau_min": min(taus)}
    tools_of: Dict[str, Any] = {}
    for d in docs:
        tools_of.update(d.get("tools", {}))
    return nets, {"files": list(paths), "tools": tools_of, "run_to_run": repeat}


def run(hardware: Sequence[str], files: Sequence[str], client: Optional["Client"],
        space: Optional[str], networks: int, seed: int, e2e: Sequence[str],
        output: Optional[str], as_json: bool) -> int:
    if networks < 0:
        raise CompareError(f"--networks: must be >= 0, got {networks}")
    tables = load_tables(hardware, files, client)
    if len(tables) < 2:
        raise CompareError("--hardware: name at least two hardware to compare "
                           "(one hardware: lutnas insights HARDWARE)")
    nets: List[Dict[str, Any]] = []
    e2e_info: Dict[str, Any] = {}
    if e2e:
        nets, e2e_info = merge_e2e(e2e)
    elif networks:
        nets = sample_networks(_space_path(space, tables), networks, seed)
    rep, _ = compare(tables, nets)
    if e2e:
        rep["e2e"] = e2e_info
    if output:
        plot(rep, output)
        rep["figure"] = output
    if as_json:
        print(json.dumps(rep, indent=1))
    else:
        sys.stdout.write(render_text(rep, figure=output))
    if output and not as_json:
        print(f"wrote {output}", file=sys.stderr)
    return 0
