"""Latency-table files: the CSV format lutnasd imports (and `table export`
writes) and a JSON form (a LatencyTable message in protobuf's JSON mapping).

CSV (docs/measurement.md): a header `key,median_ms,iqr_ms,p10_ms,p90_ms,
samples,status,error`, then one row per key; status is `measured` or
`failed`. Lines starting with `#` are comments; before the header,
`# NAME: VALUE` comments carry the table's info (hardware, backend,
precision, threads, tool, space, source, reference_ms, and `correction:
scale=S offset_ms=O fitted_on=N ...`). Keys hold commas
("conv:o16,k3,s2,g1,relu@3x64x64"): this writer quotes them (RFC 4180, as it
does any error text with commas or quotes); lutnasd and lutnas-profile write
them unquoted, and the reader takes both: an unquoted key runs up to the
field holding its `@CxHxW` shape. One record per line: the writer folds line
breaks in error texts into spaces. Works on plain dicts with LatencyEntry's
and TableInfo's field names, so it needs no stubs.
"""

import csv
import io
import json
from typing import Any, Callable, Dict, Iterable, List, Optional, TextIO, Tuple, Type, Union

Entry = Dict[str, Any]

COLUMNS = ("key", "median_ms", "iqr_ms", "p10_ms", "p90_ms", "samples", "status", "error")
FLOAT_COLUMNS = ("median_ms", "iqr_ms", "p10_ms", "p90_ms")
STATUS_TO_CSV = {"ENTRY_MEASURED": "measured", "ENTRY_FAILED": "failed",
                 "ENTRY_CPU_FALLBACK": "cpu_fallback"}
CSV_TO_STATUS = {v: k for k, v in STATUS_TO_CSV.items()}


class TableFileError(ValueError):
    """A malformed table file; the message names the line."""


def _float_text(x: Union[int, float, str]) -> str:
    x = float(x)
    return str(int(x)) if x.is_integer() and abs(x) < 1e15 else repr(x)


INFO_TEXT = ("hardware", "backend", "precision", "tool", "space", "source")
INFO_INT = ("version", "threads")
INFO_FLOAT = ("reference_ms",)
CORRECTION_FIELDS = {"scale": float, "offset_ms": float, "fitted_on": int,
                     "mape_before": float, "mape_after": float}
# Provenance (lutnas-profile validate/fit-correction), written only when set.
CORRECTION_PROVENANCE = {"fitted_unix_ms": int, "reference_drift": float, "seed": int,
                         "method": str, "range_min_ms": float, "range_max_ms": float,
                         "half_rel_diff": float, "accepted_noisy": bool,
                         "key_ms_per_mparam": float, "key_overhead_ms": float}
# Correction.type_factors: `factor.TYPE=F` tokens, sorted by type.
FACTOR_PREFIX = "factor."


def _info_lines(info: Dict[str, Any]) -> str:
    """`# NAME: VALUE` lines of a TableInfo dict, in lutnasd's order."""
    lines = ["# lutnas latency table v1"]
    for k in ("hardware", "version", "backend", "precision", "threads", "tool", "space",
              "source", "reference_ms"):
        v: Any = info.get(k)
        if v not in (None, "", 0, "0", 0.0):
            lines.append(f"# {k}: {_float_text(v) if k in INFO_FLOAT else v}")
    corr = info.get("correction") or {}
    if float(corr.get("scale", 0) or 0) > 0:
        parts = [f"{k}={_float_text(corr.get(k, 0)) if kind is float else int(corr.get(k, 0))}"
                 for k, kind in CORRECTION_FIELDS.items()]
        for k, kind in CORRECTION_PROVENANCE.items():
            v = corr.get(k)
            if v not in (None, "", 0, 0.0, False, "0"):
                parts.append(f"{k}={_float_text(v) if kind is float else int(v) if kind in (int, bool) else v}")
        for t, f in sorted((corr.get("type_factors") or {}).items()):
            parts.append(f"{FACTOR_PREFIX}{t}={_float_text(float(f))}")
        lines.append("# correction: " + " ".join(parts))
    return "".join(line + "\n" for line in lines)


def _as_dict(value: Any) -> Any:
    """A dict from a dict, a protobuf message or a lutnas result object
    (Client.export_table's info and entries)."""
    if value is None or isinstance(value, dict):
        return value
    if hasattr(value, "DESCRIPTOR") or hasattr(value, "proto"):
        from .messages import to_dict

        return to_dict(value)
    return value


def write_csv(entries: Iterable[Any], out: TextIO, hardware: Optional[str] = None,
              info: Any = None) -> None:
    """Writes entries to the text stream out: dicts with LatencyEntry field
    names, LatencyEntry messages, or Client.export_table's entries.

    hardware: a `# hardware: NAME` line; info: a TableInfo (dict, message or
    result), written as the metadata comments lutnasd writes and reads
    (instead of hardware).
    """
    info = _as_dict(info)
    if info:
        out.write(_info_lines(info))
    elif hardware:
        out.write(f"# hardware: {hardware}\n")
    w = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    w.writerow(COLUMNS)
    for e in map(_as_dict, entries):
        status = e.get("status", "ENTRY_MEASURED")
        if isinstance(status, int):
            status = {1: "ENTRY_MEASURED", 2: "ENTRY_FAILED", 220: "ENTRY_CPU_FALLBACK"}.get(status, "ENTRY_MEASURED")
        w.writerow([
            e["key"],
            *(_float_text(e.get(c, 0.0)) for c in FLOAT_COLUMNS),
            int(e.get("samples", 0)),
            STATUS_TO_CSV.get(status, "measured"),
            " ".join(str(e.get("error", "")).splitlines()),
        ])


def csv_text(entries: Iterable[Any], hardware: Optional[str] = None, info: Any = None) -> str:
    buf = io.StringIO()
    write_csv(entries, buf, hardware, info)
    return buf.getvalue()


def read_csv(text: str) -> Tuple[Optional[str], List[Entry]]:
    """Parses CSV text; returns (hardware or None, [entry dicts])."""
    info, entries = read_csv_table(text)
    return info.get("hardware"), entries


def _metadata(info: Dict[str, Any], name: str, value: str, n: int) -> None:
    """Stores one `# NAME: VALUE` comment in info (unknown names are comments)."""
    try:
        if name in INFO_TEXT:
            if value:
                info[name] = value
        elif name in INFO_INT:
            info[name] = int(value)
        elif name in INFO_FLOAT:
            info[name] = float(value)
        elif name == "correction":
            corr: Dict[str, Any] = {}
            for part in value.split():
                k, sep, v = part.partition("=")
                if sep and k.startswith(FACTOR_PREFIX) and len(k) > len(FACTOR_PREFIX):
                    corr.setdefault("type_factors", {})[k[len(FACTOR_PREFIX):]] = float(v)
                    continue
                kind = CORRECTION_FIELDS.get(k) or CORRECTION_PROVENANCE.get(k)
                if not sep or kind is None:
                    raise ValueError(part)
                corr[k] = v if kind is str else kind(float(v))
            info["correction"] = corr
    except ValueError:
        raise TableFileError(f"line {n}: {name} {value!r} is malformed") from None


def read_csv_table(text: str) -> Tuple[Dict[str, Any], List[Entry]]:
    """Parses CSV text; returns (info dict, [entry dicts]).

    info holds the metadata comments before the header (TableInfo field
    names). Columns are found by name from the header (key and median_ms are
    required; absent ones default to 0 / "" / measured).
    """
    info: Dict[str, Any] = {}
    rows: List[Tuple[int, str]] = []  # (line number, raw line) of non-comment lines
    for n, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("#"):
            name, sep, value = stripped[1:].partition(":")
            name = name.strip().lower()
            if sep and not rows and name not in info:
                _metadata(info, name, value.strip(), n)
            continue
        if stripped:
            rows.append((n, line))
    if not rows:
        raise TableFileError("no header line (expected " + ",".join(COLUMNS) + ")")
    parsed = csv.reader([line for _, line in rows])
    header = [h.strip() for h in next(parsed)]
    for need in ("key", "median_ms"):
        if need not in header:
            raise TableFileError(f"line {rows[0][0]}: header lacks column {need!r}")
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise TableFileError(f"line {rows[0][0]}: unknown column(s) {', '.join(unknown)}")
    entries = []
    for (n, _), fields in zip(rows[1:], parsed):
        if len(fields) > len(header) and header[0] == "key":
            fields = _join_unquoted_key(fields, len(header))
        if len(fields) != len(header):
            raise TableFileError(f"line {n}: {len(fields)} fields, header has {len(header)}")
        rec = dict(zip(header, fields))
        e = {"key": rec["key"].strip()}
        if not e["key"]:
            raise TableFileError(f"line {n}: empty key")
        for c in FLOAT_COLUMNS:
            e[c] = _parse_num(rec.get(c, ""), float, n, c)
        e["samples"] = _parse_num(rec.get("samples", ""), int, n, "samples")
        status = rec.get("status", "").strip().lower() or "measured"
        if status not in CSV_TO_STATUS:
            raise TableFileError(f"line {n}: status {status!r} is not measured, failed or cpu_fallback")
        e["status"] = CSV_TO_STATUS[status]
        e["error"] = rec.get("error", "")
        entries.append(e)
    return info, entries


def _join_unquoted_key(fields: List[str], ncols: int) -> List[str]:
    """An unquoted key's commas split it: it runs up to its '@CxHxW' field."""
    at = next((i for i, f in enumerate(fields) if "@" in f), None)
    if at is None or len(fields) - at != ncols:
        return fields
    return [",".join(fields[:at + 1])] + fields[at + 1:]


def _parse_num(text: str, kind: Callable[[Any], Any], line: int, column: str) -> Any:
    text = text.strip()
    if not text:
        return kind(0)
    try:
        return kind(text)
    except ValueError:
        raise TableFileError(f"line {line}: {column} {text!r} is not a number") from None


def write_json(table: Dict[str, Any], out: TextIO) -> None:
    """Writes a LatencyTable dict ({"info": ..., "entries": [...]}) as JSON."""
    json.dump(table, out, indent=1)
    out.write("\n")


def read_json(text: str) -> Tuple[Dict[str, Any], List[Entry]]:
    """Parses a LatencyTable JSON file; returns (info dict, [entry dicts])."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise TableFileError(f"not JSON: {e}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("entries", []), list):
        raise TableFileError('expected {"info": {...}, "entries": [...]}')
    return doc.get("info", {}), doc.get("entries", [])
