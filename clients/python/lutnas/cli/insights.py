"""`lutnas insights`: the command (what a measured table says
about a device; several side by side with --hardware A,B,C)."""

import argparse
import json
import sys
from typing import Callable, List, Optional, TYPE_CHECKING

from ..insights.analysis import (InsightsError, _read_table_file, analyze, load_table, plot,
                                 render_text)

if TYPE_CHECKING:
    from ..client import Client


def _hardware_names(args: argparse.Namespace) -> List[str]:
    """HARDWARE and --hardware, each a comma-separated list, in order."""
    names: List[str] = []
    for part in ([args.hardware] if args.hardware else []) + list(args.hardware_list or []):
        names += [h.strip() for h in str(part).split(",") if h.strip()]
    return names


def _file_hardware(path: str) -> str:
    """The hardware a table file names ('' when none)."""
    return str(_read_table_file(path)[0].get("hardware") or "")


def cmd_insights(args: argparse.Namespace, client: Optional["Client"]) -> int:
    names = _hardware_names(args)
    files: List[str] = list(args.table or [])
    if not names and not files:
        raise InsightsError("name a hardware: lutnas insights HARDWARE, or "
                            "--hardware A,B,C to compare several")
    file_hw: List[str] = []
    if not names:
        file_hw = list(dict.fromkeys(h for h in map(_file_hardware, files) if h))
    if len(names) > 1 or len(file_hw) > 1:
        from ..insights import compare as insights_compare

        if args.version:
            raise InsightsError("--version: one hardware only (comparing reads each "
                                "hardware's latest table, or --table files)")

        return insights_compare.run(names, files, client, args.space, args.networks,
                                    args.seed, args.e2e, args.output, bool(args.json))
    for opt, val in (("--e2e", args.e2e), ("--space", args.space)):
        if val:
            raise InsightsError(f"{opt}: only with several hardware (--hardware A,B,C)")
    args.hardware = names[0] if names else (file_hw[0] if file_hw else "")
    info, entries = load_table(args, client)
    rep, rows = analyze(info, entries)
    if args.output:
        plot(rep, rows, args.output)
        rep["figure"] = args.output
    if args.json:
        print(json.dumps(rep, indent=1))
    else:
        sys.stdout.write(render_text(rep, figure=args.output))
    if args.output and not args.json:
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]",
               json_flag: Callable[[argparse.ArgumentParser], None]) -> argparse.ArgumentParser:
    c = sub.add_parser(
        "insights", help="what a measured table says about a device (alignment, "
        "depthwise vs dense, memory-bound blocks)",
        description="Reports, with numbers, what a hardware's measured latency table says: "
        "channel alignment, depthwise vs dense and 3x3 vs 1x1 efficiency, memory-bound "
        "blocks, Kendall tau of latency vs MACs and bytes. With several hardware "
        "(--hardware A,B,C) it compares them side by side over the keys measured on all: "
        "conv densities, the x16 step, block types, and how the ranking of the same "
        "networks changes (docs/insights.md).")
    c.add_argument("hardware", metavar="HARDWARE", nargs="?",
                   help="one hardware, or A,B,C to compare several side by side")
    c.add_argument("--hardware", dest="hardware_list", action="append", metavar="A,B,C",
                   help="hardware to compare side by side (comma-separated, repeatable): "
                   "GMAC/s of 3x3, 1x1 and depthwise convs, the x16 step, block types, and "
                   "the ranking of --networks networks on each (Kendall tau per pair)")
    c.add_argument("--version", type=int, default=0,
                   help="table version (default: latest; one hardware only)")
    c.add_argument("--table", metavar="FILE", action="append",
                   help="read a table file (CSV, or JSON by suffix) instead of the daemon "
                   "(repeatable: files of one hardware are merged, a key in several files "
                   "taking the median of their medians; when comparing, each file's "
                   "'# hardware:' line says whose it is, and the others come from the daemon)")
    c.add_argument("--networks", type=int, default=20, metavar="N",
                   help="comparing: rank N random networks of the space (default 20; 0: none)")
    c.add_argument("--space", metavar="SPACE", help="comparing: the space to draw them from "
                   "(a shipped name or a file; default: the tables' space)")
    c.add_argument("--seed", type=int, default=1, help="comparing: seed of the draw (default 1)")
    c.add_argument("--e2e", metavar="FILE.json", action="append",
                   help="comparing: networks measured end to end by each runtime "
                   "(bench/bench_insights_e2e.py); ranks them measured as well as by table "
                   "(repeatable: runs of the same draw; medians, and run-to-run tau)")
    c.add_argument("-o", "--output", metavar="FILE.png", help="also draw a 2x2 figure")
    json_flag(c)
    c.set_defaults(func=cmd_insights)
    return c
