"""The published measurements in data/benchmarks/ (see its README and NOTICE),
and the two spaces behind one small interface for fitting."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from . import fbnet, nb201

FILES = {
    "nb201_devices": "nb201_devices.csv",
    "nb201_help": "nb201_help.csv",
    "fbnet_devices": "fbnet_devices.csv",
    "nb201_accuracy": "nb201_accuracy_cifar10.csv",
}


def data_dir() -> Path:
    """$LUTNAS_BENCHDATA, else the checkout's data/benchmarks/."""
    env = os.environ.get("LUTNAS_BENCHDATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[4] / "data" / "benchmarks"


@dataclass
class Dataset:
    """One CSV: architecture strings and numeric columns (NaN where empty)."""
    name: str
    archs: List[str]
    columns: Dict[str, List[float]]


def load(name: str, directory: Optional[Path] = None) -> Dataset:
    """One of FILES by its short name, or a CSV path (first column the arch)."""
    path = Path(name) if name not in FILES else (directory or data_dir()) / FILES[name]
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such benchmark file (set LUTNAS_BENCHDATA or pass a path)")
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    cols: Dict[str, List[float]] = {h: [] for h in header[1:]}
    for r in body:
        for h, v in zip(header[1:], r[1:]):
            cols[h].append(float(v) if v else float("nan"))
    return Dataset(path.stem, [r[0] for r in body], cols)


@dataclass(frozen=True)
class Space:
    """What a table fit needs of a space: its keys, a network's key counts,
    per-key and fixed costs (for cost-model priors), a validator."""
    name: str
    key_names: Callable[[], List[str]]
    key_counts: Callable[[str], Dict[str, int]]
    key_costs: Callable[[], Dict[str, Tuple[int, int]]]  # key -> (MACs, memory bytes)
    fixed_cost: Callable[[], Tuple[int, int]]
    baseline_counts: Callable[[str], Dict[str, int]]  # the plain additive fit's features
    # Does the per-network constant apply? (NB201: not to a no-path network,
    # whose time is its own key)
    has_const: Callable[[str], bool] = lambda _a: True
    # key -> its group (keys of one group share most of their deviation from the prior)
    key_parents: Callable[[], Dict[str, str]] = dict


def _nb201() -> Space:
    return Space(
        "nb201", nb201.key_names, lambda a: nb201.key_counts(nb201.parse(a)),
        lambda: {k: (c.macs, c.memory_bytes) for k, c in nb201.key_costs().items()},
        lambda: (nb201.fixed_cost().macs, nb201.fixed_cost().memory_bytes),
        lambda a: nb201.op_stage_counts(nb201.parse(a)),
        lambda a: nb201.has_path(nb201.parse(a)), nb201.key_parents)


def _fbnet() -> Space:
    return Space(
        "fbnet", fbnet.key_names, lambda a: fbnet.key_counts(fbnet.parse(a)),
        lambda: {k: (c.macs, c.memory_bytes) for k, c in fbnet.key_costs().items()},
        lambda: (fbnet.fixed_cost().macs, fbnet.fixed_cost().memory_bytes),
        lambda a: fbnet.key_counts(fbnet.parse(a)), lambda _a: True, fbnet.key_parents)


SPACES: Dict[str, Callable[[], Space]] = {"nb201": _nb201, "fbnet": _fbnet}


def space(name: str) -> Space:
    if name not in SPACES:
        raise ValueError(f"unknown space {name!r} (spaces: {', '.join(SPACES)})")
    return SPACES[name]()


def space_of(arch: str) -> str:
    """'nb201' for `|op~0|+...`, 'fbnet' for `k3_e1-...`."""
    return "nb201" if arch.lstrip().startswith("|") else "fbnet"
