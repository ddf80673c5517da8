"""The `lutnas` command line (entry point `lutnas.cli:main`), on top of every
other room: the parser and dispatch (cli._main) and command groups in
cli/<group>.py. Library code takes plain arguments; only this package
sees argparse.
"""

from typing import Any

from .._moved import attribute
from ._main import main

__all__ = ["main"]

# The attributes of the module this package replaced: one release more.
_MOVED = {
    "ALGORITHMS": "lutnas.cli._main",
    "CLIError": "lutnas.cli._main",
    "LATENCY_LEGEND": "lutnas.cli._main",
    "OBJECTIVES": "lutnas.cli._main",
    "SORT_KEYS": "lutnas.cli._main",
    "SOURCE_NAMES": "lutnas.cli._main",
    "_arch_file": "lutnas.cli._main",
    "_candidate_filters": "lutnas.cli._main",
    "_check_args": "lutnas.cli._main",
    "_correction_text": "lutnas.cli._main",
    "_count": "lutnas.cli._main",
    "_csv_list": "lutnas.cli._main",
    "_dump": "lutnas.cli._main",
    "_enum_name": "lutnas.cli._main",
    "_fields_text": "lutnas.cli._main",
    "_follow": "lutnas.cli._main",
    "_guess_format": "lutnas.cli._main",
    "_is_estimate": "lutnas.cli._main",
    "_json_flag": "lutnas.cli._main",
    "_latency_cell": "lutnas.cli._main",
    "_latency_marker": "lutnas.cli._main",
    "_non_negative_float": "lutnas.cli._main",
    "_positive_int": "lutnas.cli._main",
    "_print_breakdown": "lutnas.cli._main",
    "_print_fields": "lutnas.cli._main",
    "_print_job": "lutnas.cli._main",
    "_print_predictions": "lutnas.cli._main",
    "_print_warnings": "lutnas.cli._main",
    "_state": "lutnas.cli._main",
    "_when": "lutnas.cli._main",
    "_write_output": "lutnas.cli._main",
    "block_summary": "lutnas.cli._main",
    "build_parser": "lutnas.cli._main",
    "build_spec": "lutnas.cli._main",
    "cmd_candidates_list": "lutnas.cli._main",
    "cmd_candidates_show": "lutnas.cli._main",
    "cmd_export": "lutnas.cli._main",
    "cmd_hardware_add": "lutnas.cli._main",
    "cmd_hardware_delete": "lutnas.cli._main",
    "cmd_hardware_list": "lutnas.cli._main",
    "cmd_hardware_show": "lutnas.cli._main",
    "cmd_plot": "lutnas.cli._main",
    "cmd_predict": "lutnas.cli._main",
    "cmd_search_cancel": "lutnas.cli._main",
    "cmd_search_list": "lutnas.cli._main",
    "cmd_search_show": "lutnas.cli._main",
    "cmd_search_submit": "lutnas.cli._main",
    "cmd_search_watch": "lutnas.cli._main",
    "cmd_table_export": "lutnas.cli._main",
    "cmd_table_import": "lutnas.cli._main",
    "cmd_table_list": "lutnas.cli._main",
    "cmd_table_set_correction": "lutnas.cli._main",
    "cmd_table_upload": "lutnas.cli._main",
    "load_json": "lutnas.cli._main",
    "main": "lutnas.cli._main",
    "make_client": "lutnas.cli._main",
    "parse_budget": "lutnas.cli._main",
}


def __getattr__(name: str) -> Any:
    return attribute(__name__, _MOVED, name)
