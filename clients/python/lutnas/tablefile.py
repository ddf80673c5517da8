"""Latency-table files: the CSV format lutnasd imports (and `table export`
writes) and a JSON form (a LatencyTable message in protobuf's JSON mapping).

CSV: a header `key,median_ms,iqr_ms,p10_ms,p90_ms,samples,status,error`,
then one row per key; status is `measured` or `failed`. Lines starting with
`#` are comments; a `# hardware: NAME` comment names the hardware. Fields
use RFC 4180 quoting: keys hold commas ("conv:o16,k3,s2,g1,relu@3x64x64"), so
they are always quoted, and so is any error text with commas or quotes. One
record per line: the writer folds line breaks in error texts into spaces.
Works on plain dicts with LatencyEntry's field names, so it needs no stubs.
"""

import csv
import io
import json

COLUMNS = ("key", "median_ms", "iqr_ms", "p10_ms", "p90_ms", "samples", "status", "error")
FLOAT_COLUMNS = ("median_ms", "iqr_ms", "p10_ms", "p90_ms")
STATUS_TO_CSV = {"ENTRY_MEASURED": "measured", "ENTRY_FAILED": "failed"}
CSV_TO_STATUS = {v: k for k, v in STATUS_TO_CSV.items()}


class TableFileError(ValueError):
    """A malformed table file; the message names the line."""


def _float_text(x):
    x = float(x)
    return str(int(x)) if x.is_integer() and abs(x) < 1e15 else repr(x)


def write_csv(entries, out, hardware=None):
    """Writes entries (dicts with LatencyEntry field names) to the text stream out."""
    if hardware:
        out.write(f"# hardware: {hardware}\n")
    w = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    w.writerow(COLUMNS)
    for e in entries:
        status = e.get("status", "ENTRY_MEASURED")
        if isinstance(status, int):
            status = {1: "ENTRY_MEASURED", 2: "ENTRY_FAILED"}.get(status, "ENTRY_MEASURED")
        w.writerow([
            e["key"],
            *(_float_text(e.get(c, 0.0)) for c in FLOAT_COLUMNS),
            int(e.get("samples", 0)),
            STATUS_TO_CSV.get(status, "measured"),
            " ".join(str(e.get("error", "")).splitlines()),
        ])


def csv_text(entries, hardware=None):
    buf = io.StringIO()
    write_csv(entries, buf, hardware)
    return buf.getvalue()


def read_csv(text):
    """Parses CSV text; returns (hardware or None, [entry dicts]).

    Columns are found by name from the header (key and median_ms are
    required; absent ones default to 0 / "" / measured).
    """
    hardware = None
    rows = []  # (line number, raw line) of non-comment lines
    for n, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("#"):
            body = stripped[1:].strip()
            if body.lower().startswith("hardware:") and hardware is None and not rows:
                hardware = body.split(":", 1)[1].strip() or None
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
            raise TableFileError(f"line {n}: status {status!r} is not measured or failed")
        e["status"] = CSV_TO_STATUS[status]
        e["error"] = rec.get("error", "")
        entries.append(e)
    return hardware, entries


def _parse_num(text, kind, line, column):
    text = text.strip()
    if not text:
        return kind(0)
    try:
        return kind(text)
    except ValueError:
        raise TableFileError(f"line {line}: {column} {text!r} is not a number") from None


def write_json(table, out):
    """Writes a LatencyTable dict ({"info": ..., "entries": [...]}) as JSON."""
    json.dump(table, out, indent=1)
    out.write("\n")


def read_json(text):
    """Parses a LatencyTable JSON file; returns (info dict, [entry dicts])."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise TableFileError(f"not JSON: {e}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("entries", []), list):
        raise TableFileError('expected {"info": {...}, "entries": [...]}')
    return doc.get("info", {}), doc.get("entries", [])
