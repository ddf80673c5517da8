"""`lutnas table fit`: a latency table from whole-network measurements of the
public benchmarks' spaces (nb201, fbnet), written as a JSON table file with
its provenance and leave-one-out accuracy.

lutnasd's tables hold keys of its own (C++) spaces only, so these tables
live in files (format lutnas-fitted-table/1), not in the daemon's store.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from typing import TYPE_CHECKING, Any, Callable, List, Optional, Sequence, Tuple

from . import data

if TYPE_CHECKING:
    from .fit import Table


def read_pairs(path: str, column: Optional[str] = None) -> Tuple[List[str], List[float]]:
    """(architectures, latencies in ms) from a CSV whose first column is the
    architecture and whose `column` (default: the second) is the latency;
    rows with an empty latency are skipped."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows or len(rows[0]) < 2:
        raise ValueError(f"{path}: expected a header `arch,<latency column>...`")
    header = rows[0]
    col = header.index(column) if column else 1
    if column and column not in header:
        raise ValueError(f"{path}: no column {column!r} (columns: {', '.join(header[1:])})")
    archs: List[str] = []
    lats: List[float] = []
    for r in rows[1:]:
        if len(r) > col and r[col].strip():
            archs.append(r[0])
            lats.append(float(r[col]))
    return archs, lats


def fit_file(pairs: str, *, column: Optional[str] = None, space_name: Optional[str] = None,
             prior_paths: Sequence[str] = (), device: str = "", limit: int = 0,
             seed: int = 0) -> "Table":
    """Library form of the command: reads pairs (optionally a random `limit`
    of them), fits, returns the table with provenance."""
    import numpy as np

    from . import fit
    archs, lats = read_pairs(pairs, column)
    if not archs:
        raise fit.TooFewNetworks(f"{pairs}: no measured networks")
    if limit and limit < len(archs):
        idx = np.random.default_rng(seed).permutation(len(archs))[:limit]
        archs, lats = [archs[i] for i in idx], [lats[i] for i in idx]
    sp = data.space(space_name or data.space_of(archs[0]))
    priors = [fit.Table.load(p) for p in prior_paths]
    for p, t in zip(prior_paths, priors):
        if t.space != sp.name:
            raise ValueError(f"{p}: a table of space {t.space!r}, the networks are {sp.name!r}")
    # several other devices' tables: their mixture that best explains these networks
    prior = (priors[0] if len(priors) == 1 else
             fit.mixture_prior(sp, priors, archs, lats, archs) if priors else None)
    table = fit.fit_table(sp, archs, lats, prior=prior, device=device or (column or ""))
    table.provenance.update({"pairs": pairs, "column": column, "prior_files": list(prior_paths),
                             "subset": limit or None, "subset_seed": seed if limit else None})
    return table


def cmd_table_fit(a: argparse.Namespace, client: Any = None) -> int:
    """The CLI command (needs no daemon: `client` is unused)."""
    from . import fit
    try:
        if a.suggest:
            return _suggest(a)
        table = fit_file(a.pairs, column=a.column, space_name=a.space, prior_paths=a.prior or (),
                         device=a.device, limit=a.limit, seed=a.seed)
    except (fit.TooFewNetworks, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if a.output:
        table.save(a.output)
    if a.json or getattr(a, "json_global", False):
        print(json.dumps(table.to_json(), indent=1, sort_keys=True))
        return 0
    loo = table.loo
    print(f"fitted {table.space} table for {table.device or '(unnamed device)'} from "
          f"{table.provenance['networks']} networks, prior {table.provenance['prior']} "
          f"x{table.provenance['prior_scale']:.4g}, lambda {table.provenance['lambda']:.3g}")
    print(f"leave-one-out: {100 * loo['within10']:.1f}% within +-10%, MAPE {loo['mape']:.2f}%"
          + (f", Kendall tau {loo['kendall_tau']:.3f}" if not math.isnan(loo.get('kendall_tau', math.nan))
             else ""))
    print(f"constant {table.const_ms:.4f} ms; {sum(1 for v in table.keys.values() if v > 0)} "
          f"of {len(table.keys)} keys > 0" + (f"; written to {a.output}" if a.output else ""))
    return 0


def _suggest(a: argparse.Namespace) -> int:
    from . import fit
    archs, _ = read_pairs(a.pairs, a.column) if a.column else (_first_column(a.pairs), [])
    sp = data.space(a.space or data.space_of(archs[0]))
    prior = fit.Table.load(a.prior[0]) if a.prior else None
    measured: List[str] = read_pairs(a.measured)[0] if a.measured else []
    picks = fit.suggest(sp, archs, a.suggest, prior=prior, measured=measured)
    for i in picks:
        print(archs[i])
    return 0


def _first_column(path: str) -> List[str]:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return [r[0] for r in rows[1:] if r]


def add_parser(table_sub: "argparse._SubParsersAction[argparse.ArgumentParser]",
               json_flag: Callable[[argparse.ArgumentParser], None]) -> None:
    c = table_sub.add_parser(
        "fit", help="fit per-key latencies of nb201/fbnet from whole-network measurements",
        description="Fits a latency table (per-key ms + a per-network constant) from "
                    "(architecture, measured latency) pairs: ridge toward a rescaled prior "
                    "(--prior table, default the cost model), leave-one-out-chosen shrinkage, "
                    "Huber-robust, non-negative. Writes a JSON table file with provenance and "
                    "leave-one-out accuracy (lutnasd does not hold these spaces). With --suggest N "
                    "prints the N networks of PAIRS' first column most worth measuring next.")
    c.add_argument("pairs", metavar="PAIRS.csv",
                   help="CSV: first column the architecture, a latency column in ms "
                        "(e.g. data/benchmarks/nb201_devices.csv)")
    c.add_argument("--column", help="latency column (default: the second)")
    c.add_argument("--space", choices=sorted(data.SPACES), help="default: from the arch strings")
    c.add_argument("--prior", metavar="TABLE.json", action="append",
                   help="prior table (another device's fit; default: the cost model); repeat it "
                        "for several devices: their non-negative mixture that best explains "
                        "the measured networks is the prior")
    c.add_argument("--device", default="", help="device name stored in the table (default: the column)")
    c.add_argument("--limit", type=int, default=0, help="fit on a random N of the pairs (0: all)")
    c.add_argument("--seed", type=int, default=0, help="seed of --limit's subset")
    c.add_argument("-o", "--output", metavar="TABLE.json", help="write the table here")
    c.add_argument("--suggest", type=int, default=0, metavar="N",
                   help="print the N candidates to measure next instead of fitting")
    c.add_argument("--measured", metavar="PAIRS.csv", help="with --suggest: networks already measured")
    json_flag(c)
    c.set_defaults(func=cmd_table_fit)

