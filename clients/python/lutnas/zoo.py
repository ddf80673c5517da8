"""The model zoo (models/*.json) as reference points: resolve a zoo name or an
architecture file, predict zoo models on a hardware for `lutnas plot --zoo`, and
load them as SearchSpec.seed_architectures for `lutnas search submit --seed-from`.
"""
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Tuple

if TYPE_CHECKING:
    from .client import Client


class ZooError(ValueError):
    """A zoo name that is neither a file nor a model under models/."""


def models_dir() -> Path:
    """models/ of the source tree ($LUTNAS_ROOT, else the checkout holding this package)."""
    root = os.environ.get("LUTNAS_ROOT")
    if root:
        return Path(root) / "models"
    return Path(__file__).resolve().parents[3] / "models"


def names() -> List[str]:
    """Zoo model names (file stems under models/), sorted."""
    d = models_dir()
    return sorted(p.stem for p in d.glob("*.json")) if d.is_dir() else []


def resolve(name: str) -> Path:
    """Path of a zoo model: an existing file, or models/<name>.json."""
    if os.path.isfile(name):
        return Path(name)
    p = models_dir() / f"{name}.json"
    if p.is_file():
        return p
    known = ", ".join(names()) or "none found"
    raise ZooError(f"zoo model {name!r}: no such file and not in {models_dir()} ({known})")


def load(name: str) -> Tuple[str, Dict[str, Any]]:
    """(label, architecture dict) of a zoo name or file."""
    path = resolve(name)
    try:
        with open(path) as f:
            arch = json.load(f)
    except (OSError, ValueError) as e:
        raise ZooError(f"{path}: {e}") from None
    if not isinstance(arch, dict):
        raise ZooError(f"{path}: not an architecture object")
    return arch.get("name") or path.stem, arch


def references(client: "Client", models: Iterable[str], hardware: str) -> List[Tuple[str, float, float]]:
    """[(label, predicted latency_ms, measured_fraction)] of zoo models on `hardware`
    (measured_fraction: the share of the block sum the table measured)."""
    out = []
    for m in models:
        label, arch = load(m)
        resp = client.predict(arch, hardware=[hardware])
        pred = next((p for p in resp.predictions if p.hardware == hardware), None)
        if pred is None:
            raise ZooError(f"{label}: no prediction on {hardware!r}")
        out.append((label, pred.latency_ms, pred.measured_fraction))
    return out


def seed_architectures(models: Iterable[str]) -> List[Dict[str, Any]]:
    """Architecture dicts for SearchSpec.seed_architectures."""
    return [load(m)[1] for m in models]
