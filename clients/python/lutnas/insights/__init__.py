"""What measured tables and priors say about devices, in numbers: one
hardware's table (analysis), several side by side (compare), how far
spec-only priors are from published figures (priors), what lutnas knows of
each device of a named set (profiles). The `lutnas insights` command is in
lutnas.cli.insights.
"""

from typing import Any

from . import analysis, compare, priors, profiles
from .._moved import attribute

__all__ = ["analysis", "compare", "priors", "profiles"]

# The attributes of the module this package replaced: one release more.
_MOVED = {
    "BYTES_PER": "lutnas.insights.analysis",
    "FREE_AT": "lutnas.insights.analysis",
    "Family": "lutnas.insights.analysis",
    "InsightsError": "lutnas.insights.analysis",
    "MIN_FAMILY_KEYS": "lutnas.insights.analysis",
    "MIN_GAIN": "lutnas.insights.analysis",
    "MIN_POINTS": "lutnas.insights.analysis",
    "MIN_WIDTHS": "lutnas.insights.analysis",
    "MULTIPLES": "lutnas.insights.analysis",
    "Parsed": "lutnas.insights.analysis",
    "Row": "lutnas.insights.analysis",
    "STEPS": "lutnas.insights.analysis",
    "_conv_out": "lutnas.insights.analysis",
    "_f": "lutnas.insights._common",
    "_file_hardware": "lutnas.cli.insights",
    "_fit_error": "lutnas.insights.analysis",
    "_group_stats": "lutnas.insights.analysis",
    "_hardware_names": "lutnas.cli.insights",
    "_is_measured": "lutnas.insights._common",
    "_matched": "lutnas.insights.analysis",
    "_md_table": "lutnas.insights._common",
    "_median": "lutnas.insights.analysis",
    "_num": "lutnas.insights._common",
    "_padded_cost": "lutnas.insights.analysis",
    "_pairs": "lutnas.insights.analysis",
    "_pct": "lutnas.insights.analysis",
    "_pct1": "lutnas.insights._common",
    "_pick_step": "lutnas.insights.analysis",
    "_ratio": "lutnas.insights._common",
    "_read_table_file": "lutnas.insights.analysis",
    "_shape_key": "lutnas.insights.analysis",
    "_showcase_family": "lutnas.insights.analysis",
    "add_parser": "lutnas.cli.insights",
    "alignment": "lutnas.insights.analysis",
    "analyze": "lutnas.insights.analysis",
    "block_label": "lutnas.insights.analysis",
    "build_rows": "lutnas.insights.analysis",
    "cmd_insights": "lutnas.cli.insights",
    "conv_families": "lutnas.insights.analysis",
    "conv_kind": "lutnas.insights.analysis",
    "efficiency": "lutnas.insights.analysis",
    "family_label": "lutnas.insights.analysis",
    "family_name": "lutnas.insights.analysis",
    "gmacs": "lutnas.insights.analysis",
    "kendall": "lutnas.insights.analysis",
    "kendall_tau_b": "lutnas.insights.analysis",
    "kernel_density": "lutnas.insights.analysis",
    "load_table": "lutnas.insights.analysis",
    "memory": "lutnas.insights.analysis",
    "merge_entries": "lutnas.insights.analysis",
    "nnls_fit": "lutnas.insights.analysis",
    "parse_key": "lutnas.insights.analysis",
    "plot": "lutnas.insights.analysis",
    "render_text": "lutnas.insights.analysis",
    "require_numpy": "lutnas.insights.analysis",
}


def __getattr__(name: str) -> Any:
    return attribute(__name__, _MOVED, name)
