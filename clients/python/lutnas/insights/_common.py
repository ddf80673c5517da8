"""Helpers the insights modules share (number formats, Markdown tables,
which entries count as measured): private to lutnas.insights."""

import math
from typing import Any, Iterable, Mapping, Optional, Sequence


def _ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return a / b if a is not None and b else None


def _num(x: Optional[float]) -> Optional[float]:
    """JSON-safe number: None for nan/inf."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _f(x: Optional[float], fmt: str = ".3g", none: str = "-") -> str:
    return none if x is None else format(x, fmt)


def _pct1(x: Optional[float]) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _md_table(headers: Sequence[Any], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _is_measured(e: Mapping[str, Any]) -> bool:
    return e.get("status", "ENTRY_MEASURED") in ("ENTRY_MEASURED", 1) \
        and float(e.get("median_ms", 0) or 0) > 0
