"""The `lutnas` command line: hardware, tables, prediction, search, candidates,
Pareto plots and export, all through lutnas.Client.

Output: aligned text tables, or with --json the RPC's response message in
protobuf's JSON mapping (field names as in the .proto; int64 values are
strings, as the mapping says). Errors print "error: <details>" to stderr and
exit 1; usage errors exit 2.
"""

import argparse
import json
import os
import sys
import time
import warnings
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from ..measure import external
from ..insights import analysis as insights
from .. import render, tablefile
from ..insights import priors, profiles
from . import train as train_cli  # issue 17: train / ray-train
from .. import dashboard  # `lutnas dashboard` (imports no Flask until it runs)
from .._stubs import StubError
from ..client import DEFAULT_TARGET, Client, to_dict, to_message
from ..results import Correction, Job, Prediction, unwrap
from ..errors import LutnasError, SubmitWarning, Unavailable, unreachable_hint
from ..tools import ToolError
from ..torch_export import TorchMissing
from . import insights as insights_cli

ALGORITHMS = ("evolution", "nsga2", "random")
OBJECTIVES = ("zen", "naswot", "params", "macs", "external")
SORT_KEYS = ("id", "score", "params", "macs", "latency")
# SOURCE_INTERPOLATED covers keys scaled from measured neighbours, inside the
# table's range or far outside it: "estimated" says what is known of both.
SOURCE_NAMES = {"SOURCE_MEASURED": "measured", "SOURCE_INTERPOLATED": "estimated",
                "SOURCE_ROOFLINE": "roofline", "SOURCE_COST_MODEL": "cost model",
                "LATENCY_SOURCE_UNSPECIFIED": "?"}


class CLIError(Exception):
    """A user error found by the CLI itself (bad file, bad combination)."""


# ------------------------------------------------------------ arguments
def _csv_list(text: str) -> List[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected NAME[,NAME...]")
    return names


def _count(text: str) -> int:
    try:
        return render.parse_count(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a count like 500000, 500k or 2M: {text!r}")


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        v = 0
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer: {text!r}")
    return v


def _non_negative_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = -1
    if not v >= 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative number: {text!r}")
    return v


def parse_budget(text: str) -> Tuple[str, float, int]:
    """'HW=MS' or 'HW=MS@VERSION' -> (hardware, max_ms, table_version)."""
    hw, sep, rest = text.partition("=")
    limit, _, version = rest.partition("@")
    try:
        max_ms = float(limit)
        ver = int(version) if version else 0
    except ValueError:
        max_ms, ver = -1, -1
    if not sep or not hw.strip() or not max_ms > 0 or ver < 0:
        raise argparse.ArgumentTypeError(
            f"expected HARDWARE=MAX_MS[@TABLE_VERSION], e.g. host-cpu=8: {text!r}")
    return hw.strip(), max_ms, ver


def _json_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the response as JSON")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lutnas", description="Client of lutnasd, the hardware-aware NAS daemon.")
    p.add_argument("--server", default=os.environ.get("LUTNAS_SERVER", DEFAULT_TARGET),
                   metavar="HOST:PORT",
                   help="daemon address (env LUTNAS_SERVER; default %(default)s)")
    p.add_argument("--timeout", type=_non_negative_float,
                   default=float(os.environ.get("LUTNAS_TIMEOUT", "30")),
                   help="seconds per call, 0 for none (env LUTNAS_TIMEOUT; default %(default)s)")
    p.add_argument("--token", default=os.environ.get("LUTNAS_TOKEN"),
                   help="bearer token (env LUTNAS_TOKEN)")
    p.add_argument("--tls-ca", metavar="PEM", help="use TLS, trusting these root certificates")
    p.add_argument("--tls", action="store_true", help="use TLS with the system's root certificates")
    p.add_argument("--json", dest="json_global", action="store_true",
                   help="JSON output (same as the command's --json)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    # hardware
    hw = sub.add_parser("hardware", help="registered hardware").add_subparsers(
        dest="action", metavar="ACTION", required=True)
    c = hw.add_parser("list", help="list hardware")
    _json_flag(c)
    c.set_defaults(func=cmd_hardware_list)
    c = hw.add_parser("show", help="show one hardware")
    c.add_argument("name")
    _json_flag(c)
    c.set_defaults(func=cmd_hardware_show)
    c = hw.add_parser("add", help="register hardware from a JSON file (Hardware message)")
    c.add_argument("file", metavar="FILE.json")
    c.add_argument("--update", action="store_true", help="replace an existing entry")
    _json_flag(c)
    c.set_defaults(func=cmd_hardware_add)
    c = hw.add_parser("delete", help="delete hardware")
    c.add_argument("name")
    c.set_defaults(func=cmd_hardware_delete)
    priors.add_parser(hw, _json_flag)  # check-priors (lutnas/insights/priors.py)
    profiles.add_parser(hw, _json_flag)  # profile (lutnas/insights/profiles.py)

    # tables
    tb = sub.add_parser("table", help="latency tables").add_subparsers(
        dest="action", metavar="ACTION", required=True)
    c = tb.add_parser("list", help="list table versions")
    c.add_argument("hardware", nargs="?", default="", metavar="HW")
    _json_flag(c)
    c.set_defaults(func=cmd_table_list)
    c = tb.add_parser("import", help="send a table file for the daemon to parse")
    c.add_argument("file")
    c.add_argument("--hardware", required=True, metavar="HW")
    c.add_argument("--format", choices=("csv", "json", "ofa"),
                   help="file format (default: json for .json files, else csv)")
    c.add_argument("--daemon-path", action="store_true",
                   help="FILE is a path under the daemon's --import_dir, read there")
    _json_flag(c)
    c.set_defaults(func=cmd_table_import)
    c = tb.add_parser("upload", help="parse a CSV/JSON table here and stream it to the daemon")
    c.add_argument("file")
    c.add_argument("--hardware", metavar="HW", help="default: the file's '# hardware:' line")
    c.add_argument("--format", choices=("csv", "json"))
    for opt in ("backend", "precision", "tool", "space"):
        c.add_argument(f"--{opt}", default="")
    c.add_argument("--threads", type=int, default=0)
    c.add_argument("--batch", type=_positive_int, default=500, help="entries per stream message")
    _json_flag(c)
    c.set_defaults(func=cmd_table_upload)
    c = tb.add_parser("export", help="write a table version as CSV or JSON")
    c.add_argument("hardware", metavar="HW")
    c.add_argument("--version", type=int, default=0, help="table version (default: latest)")
    c.add_argument("-o", "--output", default="-", metavar="FILE", help="default: stdout")
    c.add_argument("--format", choices=("csv", "json"),
                   help="default: json for .json files, else csv")
    c.set_defaults(func=cmd_table_export)
    c = tb.add_parser("set-correction", help="set a table's end-to-end correction")
    c.add_argument("hardware", metavar="HW")
    c.add_argument("--version", type=int, default=0, help="table version (default: latest)")
    c.add_argument("--scale", type=float, help="set by hand (or --from)")
    c.add_argument("--offset-ms", type=float, default=None)
    c.add_argument("--from", dest="from_file", metavar="FILE",
                   help="the JSON of `lutnas-profile validate --json` or `fit-correction --json`: "
                        "its correction with provenance (refused fits are not sent)")
    _json_flag(c)
    c.set_defaults(func=cmd_table_set_correction)
    __import__("lutnas.benchdata.command").benchdata.command.add_parser(tb, _json_flag)  # table fit

    # predict
    c = sub.add_parser("predict", help="predict an architecture's latency")
    c.add_argument("arch", metavar="ARCH",
                   help="an architecture JSON file, or a zoo model name (models/NAME.json)")
    c.add_argument("--hardware", type=_csv_list, action="extend", default=[], metavar="A,B")
    c.add_argument("--breakdown", action="store_true", help="per-block latencies")
    c.add_argument("--measure-missing", action="store_true",
                   help="measure the keys the table lacks on this machine (host-* devices), "
                        "store them as a new table version, predict again")
    c.add_argument("--accept-noisy", action="store_true",
                   help="with --measure-missing: store the keys even when the measurement stays "
                        "noisy (by default a noisy one is refused and nothing is stored)")
    c.add_argument("--rounds", type=int, default=0, help=argparse.SUPPRESS)
    _json_flag(c)
    c.set_defaults(func=cmd_predict)

    # search
    se = sub.add_parser("search", help="search jobs").add_subparsers(
        dest="action", metavar="ACTION", required=True)
    c = se.add_parser("submit", help="submit a search job")
    c.add_argument("--spec", metavar="FILE.json", help="a SearchSpec file; flags override it")
    c.add_argument("--space", help="shipped space name (tiny, edge, mobile) or a space JSON file")
    c.add_argument("--budget", type=parse_budget, action="append", default=[],
                   metavar="HW=MS[@VER]", help="latency budget (repeatable)")
    c.add_argument("--algorithm", type=str.lower, choices=ALGORITHMS)  # any case, as in spec files
    c.add_argument("--objective", type=str.lower, choices=OBJECTIVES)
    c.add_argument("--population", type=_positive_int)
    c.add_argument("--generations", type=int)
    c.add_argument("--sample-size", type=_positive_int)
    c.add_argument("--seed", type=int)
    c.add_argument("--max-params", type=_count)
    c.add_argument("--max-macs", type=_count)
    c.add_argument("--soft", action="store_true", help="soft latency constraint (MnasNet reward)")
    c.add_argument("--unconstrained", action="store_true",
                   help="search without any budget or cap (refused otherwise)")
    c.add_argument("--soft-weight", type=float)
    c.add_argument("--proxy-resolution", type=_positive_int)
    c.add_argument("--proxy-batch", type=_positive_int)
    c.add_argument("--max-runtime", type=_non_negative_float, metavar="SECONDS")
    c.add_argument("--name")
    c.add_argument("--report-hardware", type=_csv_list, action="extend", metavar="A,B")
    c.add_argument("--seed-from", action="append", default=[], metavar="MODEL",
                   help="start from a zoo model (models/NAME.json or a file) that is a "
                        "point of the space (repeatable)")
    c.add_argument("--watch", action="store_true", help="follow progress until the job ends")
    _json_flag(c)
    c.set_defaults(func=cmd_search_submit, subparser=c)
    c = se.add_parser("list", help="list jobs")
    _json_flag(c)
    c.set_defaults(func=cmd_search_list)
    for name, func, helptext in (("show", cmd_search_show, "show a job"),
                                 ("cancel", cmd_search_cancel, "cancel a job"),
                                 ("watch", cmd_search_watch, "follow a job until it ends")):
        c = se.add_parser(name, help=helptext)
        c.add_argument("id", type=int)
        _json_flag(c)
        c.set_defaults(func=func)

    # candidates
    ca = sub.add_parser("candidates", help="evaluated architectures").add_subparsers(
        dest="action", metavar="ACTION", required=True)
    c = ca.add_parser("list", help="list candidates")
    c.add_argument("--job", type=int, default=0)
    c.add_argument("--pareto", action="store_true", help="Pareto front only")
    c.add_argument("--hardware", default="", metavar="H",
                   help="only candidates with a latency on H (for --max-latency, --sort latency)")
    c.add_argument("--max-latency", type=_non_negative_float, default=0.0, metavar="MS")
    c.add_argument("--max-params", type=_count, default=0)
    c.add_argument("--sort", choices=SORT_KEYS, default="id")
    c.add_argument("--desc", action="store_true")
    c.add_argument("--limit", type=_positive_int, default=0, help="page size (daemon default 50)")
    c.add_argument("--page-token", default="")
    c.add_argument("--all", action="store_true", help="follow page tokens to the end")
    _json_flag(c)
    c.set_defaults(func=cmd_candidates_list, subparser=c)
    c = ca.add_parser("show", help="show one candidate")
    c.add_argument("id", type=int)
    _json_flag(c)
    c.set_defaults(func=cmd_candidates_show)

    # plot / export
    c = sub.add_parser("plot", help="Pareto plot of a job (PNG)")
    c.add_argument("job", type=int, metavar="JOB")
    c.add_argument("-o", "--output", default="pareto.png", metavar="FILE")
    c.add_argument("--hardware", metavar="H", help="default: the job's first budget")
    c.add_argument("--zoo", action="append", default=[], metavar="MODEL",
                   help="also draw a zoo model (models/NAME.json or a file), predicted on "
                        "the same hardware (repeatable)")
    c.set_defaults(func=cmd_plot)
    c = sub.add_parser("export", help="export a candidate as PyTorch, ONNX or JSON")
    c.add_argument("id", type=int, metavar="ID")
    c.add_argument("--format", choices=("pytorch", "onnx", "json"), default="pytorch")
    c.add_argument("-o", "--output", metavar="FILE", help="default: the daemon's file name")
    c.add_argument("--opset", type=_positive_int, default=13, help="ONNX opset")
    c.set_defaults(func=cmd_export)

    # edge hardware: vendor-tool tables, what a table says about a device
    external.add_parser(sub, _json_flag)
    insights_cli.add_parser(sub, _json_flag)
    from . import bench as bench_cli
    from ..measure import validate_external  # runtimes: ONNX Runtime runner, e2e validation

    bench_cli.add_parser(sub)
    validate_external.add_parser(sub, _json_flag)
    train_cli.add_parser(sub, _json_flag)
    dashboard.add_parser(sub)
    return p


def _check_args(args: argparse.Namespace) -> None:
    """Checks across arguments argparse cannot express (exits 2)."""
    if args.func is cmd_candidates_list:
        if args.max_latency and not args.hardware:
            args.subparser.error("--max-latency needs --hardware")
        if args.sort == "latency" and not args.hardware:
            args.subparser.error("--sort latency needs --hardware")
    if args.func is cmd_search_submit and not args.spec and not args.space:
        args.subparser.error("needs --space (or --spec)")
    if args.func is external.cmd_profile_external:
        if not args.space and not args.keys_file:
            args.subparser.error("needs --space or --keys-file")
        if args.limit < 0:
            args.subparser.error("--limit must be >= 0")
        if not args.tool_timeout > 0:
            args.subparser.error("--timeout must be > 0")


# ------------------------------------------------------------ helpers
def load_json(path: str) -> Any:
    try:
        if path == "-":
            return json.load(sys.stdin)
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise CLIError(f"{path}: not valid JSON: {e}") from None


def _dump(msg: Any) -> None:
    print(json.dumps(to_dict(msg), indent=1))


def _enum_name(msg: Any, field: str) -> str:
    fd = msg.DESCRIPTOR.fields_by_name[field]
    return str(fd.enum_type.values_by_number[getattr(msg, field)].name)


def _when(unix_ms: int) -> str:
    if not unix_ms:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(unix_ms / 1000))


def _state(job: Job) -> str:
    return _enum_name(job, "state").replace("JOB_", "").lower()


def _is_estimate(pred: Prediction) -> bool:
    return pred.estimated_from_spec or pred.measured_fraction < 1.0


def _latency_marker(pred: Prediction) -> str:
    """'' when every block was measured; 'est (NN% measured)' when NN% of
    the block sum was measured (the rest estimated); 'spec' when nothing was
    (the device's published peaks)."""
    if pred.estimated_from_spec:
        return "spec"
    if pred.measured_fraction < 1.0:
        return f"est ({render.percent(min(pred.measured_fraction, 0.99))} measured)"
    return ""


def _latency_cell(pred: Prediction) -> str:
    marker = _latency_marker(pred)
    return render.ms(pred.latency_ms) + (" " + marker if marker else "")


LATENCY_LEGEND = ("latency marks: none = every block measured on the device; est (NN% measured) "
                  "= NN% of the block sum measured, the rest estimated from measured blocks; "
                  "spec = no table, estimated from the device's published peaks")


def _write_output(path: str, text: str) -> None:
    if path == "-":
        sys.stdout.write(text)
    else:
        with open(path, "w") as f:
            f.write(text)


def block_summary(block: Any) -> str:
    """'mbconv(out_channels=24, expansion=3, stride=2)' for a Block message."""
    kind = block.WhichOneof("kind")
    if kind is None:
        return "(empty block)"
    return f"{kind}({_fields_text(getattr(block, kind))})"


def _fields_text(msg: Any) -> str:
    parts = []
    for fd, value in msg.ListFields():
        if fd.enum_type is not None:
            value = fd.enum_type.values_by_number[value].name
        parts.append(f"{fd.name}={value}")
    return ", ".join(parts)


# ------------------------------------------------------------ hardware
def cmd_hardware_list(args: argparse.Namespace, client: Client) -> None:
    hws = client.list_hardware()
    if args.json:
        return _dump(client.pb.service_pb2.ListHardwareResponse(hardware=[unwrap(h) for h in hws]))
    rows = [[h.name, h.backend, h.precision, h.threads or "-", f"{h.peak_gops:g}",
             f"{h.bandwidth_gbs:g}", h.channel_alignment or "-", h.description] for h in hws]
    print(render.table(["name", "backend", "precision", "threads", "peak GOPS", "GB/s",
                        "align", "description"], rows))


def cmd_hardware_show(args: argparse.Namespace, client: Client) -> None:
    hw = client.get_hardware(args.name)
    if args.json:
        return _dump(hw)
    _print_fields(hw)


def _print_fields(msg: Any) -> None:
    d = to_dict(msg)
    width = max(len(k) for k in d) if d else 0
    for k, v in d.items():
        if isinstance(v, list):
            v = ", ".join(str(x) for x in v) or "-"
        print(f"{k.ljust(width)}  {v}")


def cmd_hardware_add(args: argparse.Namespace, client: Client) -> None:
    hw = client.register_hardware(load_json(args.file), update=args.update)
    if args.json:
        return _dump(hw)
    print(f"{'updated' if args.update else 'registered'} {hw.name}")


def cmd_hardware_delete(args: argparse.Namespace, client: Client) -> None:
    client.delete_hardware(args.name)
    print(f"deleted {args.name}")


# ------------------------------------------------------------ tables
def _correction_text(corr: Correction) -> str:
    if not corr.scale and not corr.offset_ms:
        return "-"
    return f"x{corr.scale:g} {corr.offset_ms:+g}ms"


def cmd_table_list(args: argparse.Namespace, client: Client) -> None:
    tables = client.list_tables(args.hardware)
    if args.json:
        return _dump(client.pb.service_pb2.ListTablesResponse(tables=[unwrap(t) for t in tables]))
    rows = [[t.hardware, t.version, _when(t.created_unix_ms), t.entries, t.failed, t.backend,
             t.precision, t.threads or "-", t.source, _correction_text(t.correction), t.tool]
            for t in tables]
    print(render.table(["hardware", "version", "created", "entries", "failed", "backend",
                        "precision", "threads", "source", "correction", "tool"], rows))


def _guess_format(path: str, given: Optional[str]) -> str:
    return given or ("json" if path.lower().endswith(".json") else "csv")


def cmd_table_import(args: argparse.Namespace, client: Client) -> None:
    fmt = _guess_format(args.file, args.format)
    if args.daemon_path:
        resp = client.import_table(args.hardware, path=args.file, format=fmt)
    else:
        with open(args.file, "rb") as f:
            resp = client.import_table(args.hardware, content=f.read(), format=fmt)
    if args.json:
        return _dump(resp)
    i = resp.info
    print(f"imported {i.hardware} version {i.version}: {i.entries} entries ({i.failed} failed)")
    if resp.unmapped:
        print(f"{len(resp.unmapped)} keys had no lutnas block: "
              + ", ".join(resp.unmapped[:10]) + (" ..." if len(resp.unmapped) > 10 else ""))


def cmd_table_upload(args: argparse.Namespace, client: Client) -> None:
    with open(args.file) as f:
        text = f.read()
    if _guess_format(args.file, args.format) == "json":
        info, entries = tablefile.read_json(text)
    else:
        info, entries = tablefile.read_csv_table(text)
    info = dict(info)
    info["hardware"] = args.hardware or info.get("hardware") or ""
    if not info["hardware"]:
        raise CLIError("no hardware: give --hardware or a '# hardware: NAME' line")
    for opt in ("backend", "precision", "tool", "space", "threads"):
        if getattr(args, opt):
            info[opt] = getattr(args, opt)
    for k in ("version", "entries", "failed", "created_unix_ms"):
        info.pop(k, None)  # the daemon assigns these
    entry_cls = client.pb.table_pb2.LatencyEntry
    entries = [to_message(e, entry_cls, f"{args.file}: entries[{i}]")
               for i, e in enumerate(entries)]
    stored = client.upload_table(info, entries, batch=args.batch)
    if args.json:
        return _dump(stored)
    print(f"uploaded {stored.hardware} version {stored.version}: "
          f"{stored.entries} entries ({stored.failed} failed)")


def cmd_table_export(args: argparse.Namespace, client: Client) -> None:
    info, entries = client.export_table(args.hardware, args.version)
    fmt = _guess_format(args.output, args.format)
    if fmt == "json":
        table = client.pb.table_pb2.LatencyTable(info=unwrap(info), entries=[unwrap(e) for e in entries])
        text = json.dumps(to_dict(table), indent=1) + "\n"
    else:
        text = tablefile.csv_text((to_dict(e) for e in entries), info=to_dict(info))
    _write_output(args.output, text)
    if args.output != "-":
        print(f"wrote {args.output}: {info.hardware} version {info.version}, "
              f"{len(entries)} entries", file=sys.stderr)


def cmd_table_set_correction(args: argparse.Namespace, client: Client) -> None:
    from ..measure import correction_file
    if args.from_file:
        if args.scale is not None or args.offset_ms is not None:
            raise CLIError("give --from FILE or --scale/--offset-ms, not both")
        try:
            fields = correction_file.load(args.from_file)
        except correction_file.CorrectionFileError as e:
            raise CLIError(str(e)) from None
    elif args.scale is None:
        raise CLIError("--scale is required (or --from FILE)")
    else:
        fields = dict(scale=args.scale, offset_ms=args.offset_ms or 0.0, method="manual")
    version = args.version
    if version == 0:  # the latest (SetCorrection itself wants an explicit version)
        versions = [int(t.version) for t in client.list_tables(args.hardware)]
        if not versions:
            raise CLIError(f"hardware {args.hardware!r} has no latency table")
        version = max(versions)
    info = client.set_correction(args.hardware, version, correction=fields)
    if args.json:
        return _dump(info)
    print(f"{info.hardware} version {info.version}: correction {_correction_text(info.correction)}")


# ------------------------------------------------------------ predict
def _arch_file(name: str) -> str:
    """A file as given, else the zoo model of that name (as --zoo takes)."""
    if name == "-" or os.path.isfile(name):
        return name
    from .. import zoo
    try:
        return str(zoo.resolve(name))
    except zoo.ZooError as e:
        raise CLIError(str(e)) from None


def cmd_predict(args: argparse.Namespace, client: Client) -> None:
    args.arch = _arch_file(args.arch)
    resp = client.predict(load_json(args.arch), hardware=args.hardware, breakdown=args.breakdown)
    if getattr(args, "measure_missing", False):
        from ..measure.estimates import measure_missing

        if measure_missing(client, args.arch, resp, args.server, rounds=args.rounds,
                           accept_noisy=args.accept_noisy):
            resp = client.predict(load_json(args.arch), hardware=args.hardware,
                                  breakdown=args.breakdown)
    if args.json:
        return _dump(resp)
    print(f"hash {resp.arch_hash}  params {resp.params:,} ({render.count(resp.params)})  "
          f"MACs {render.count(resp.macs)}  memory access {resp.mac_bytes / 2**20:.2f} MiB")
    if not resp.predictions:
        return
    print()
    _print_predictions(resp.predictions)
    from ..measure.estimates import print_estimates, warning_lines

    for line in warning_lines(resp.predictions):
        print(line, file=sys.stderr)
    if args.breakdown:
        for p in resp.predictions:
            _print_breakdown(p)
        print_estimates(resp.predictions)


def _print_predictions(preds: Iterable[Prediction]) -> None:
    """One row per hardware; "table" says v<N>, or "spec" when there is no
    table (every block estimated from the device's published peaks)."""
    rows = [[p.hardware, "spec" if p.estimated_from_spec or not p.table_version
             else f"v{p.table_version}",
             render.ms(p.latency_ms), render.ms(p.sum_ms), render.percent(p.measured_fraction)]
            for p in preds]
    print(render.table(["hardware", "table", "latency ms", "sum ms", "measured"], rows,
                       right={2, 3, 4}))


def _print_breakdown(p: Prediction) -> None:
    print(f"\n{p.hardware} (table {p.table_version or '-'}):")
    rows = [[b.where, b.key, render.ms(b.latency_ms),
             SOURCE_NAMES.get(_enum_name(b, "source"), "?")] for b in p.blocks]
    print(render.table(["where", "key", "ms", "source"], rows, right={2}))


# ------------------------------------------------------------ search
def build_spec(args: argparse.Namespace, pb: Any) -> Any:
    """SearchSpec message from `search submit` arguments."""
    spec = pb.service_pb2.SearchSpec()
    if args.spec:
        spec = to_message(load_json(args.spec), pb.service_pb2.SearchSpec, args.spec)
    if args.space:
        if args.space.endswith(".json") or os.path.isfile(args.space):
            spec.ClearField("space")
            spec.space_inline.CopyFrom(
                to_message(load_json(args.space), pb.space_pb2.SearchSpace, args.space))
        else:
            spec.ClearField("space_inline")
            spec.space = args.space
    for hw, max_ms, version in args.budget:
        spec.budgets.add(hardware=hw, max_ms=max_ms, table_version=version)
    if args.algorithm:
        spec.algorithm = pb.service_pb2.Algorithm.Value(args.algorithm.upper())
    if args.objective:
        spec.objective = pb.service_pb2.Objective.Value(args.objective.upper())
    simple = {"population": "population", "generations": "generations",
              "sample_size": "sample_size", "seed": "seed", "max_params": "max_params",
              "max_macs": "max_macs", "soft_weight": "soft_weight", "name": "name",
              "proxy_resolution": "proxy_resolution", "proxy_batch": "proxy_batch",
              "max_runtime": "max_runtime_s"}
    for arg, field in simple.items():
        value = getattr(args, arg)
        if value is not None:
            setattr(spec, field, value)
    if args.soft:
        spec.soft_constraint = True
    if args.unconstrained:
        spec.unconstrained = True
    if args.report_hardware:
        spec.report_hardware.extend(args.report_hardware)
    if getattr(args, "seed_from", None):
        from .. import zoo
        try:
            seeds = zoo.seed_architectures(args.seed_from)
        except zoo.ZooError as e:
            raise CLIError(str(e)) from None
        for i, arch in enumerate(seeds):
            spec.seed_architectures.add().CopyFrom(
                to_message(arch, pb.arch_pb2.Architecture, args.seed_from[i]))
    return spec


def _print_warnings(job: Job, stream: Any = None) -> None:
    for w in job.spec.warnings:
        print(f"warning: {w}", file=stream or sys.stderr)


def cmd_search_submit(args: argparse.Namespace, client: Client) -> int:
    with warnings.catch_warnings():  # printed below, as "warning: ..." lines
        warnings.simplefilter("ignore", SubmitWarning)
        job = client.submit(build_spec(args, client.pb))
    _print_warnings(job)
    if not args.watch:
        if args.json:
            _dump(job)
            return 0
        print(job.id)
        return 0
    if not args.json:
        print(job.id, flush=True)
    return _follow(client, job.id, json_lines=False, final_json=args.json)


def _follow(client: Client, job_id: int, json_lines: bool, final_json: bool = False) -> int:
    last = None
    bar = None if (json_lines or final_json) else render.make_progress(f"job {job_id}")
    try:
        for job in client.watch(job_id):
            last = job
            if json_lines:
                print(json.dumps(to_dict(job)), flush=True)
            elif bar:
                bar.update(job)
    finally:
        if bar:
            bar.close()
    if last is None:
        last = client.get_job(job_id)
    if final_json:
        _dump(last)
    elif not json_lines:
        p = last.progress
        print(f"job {job_id} {_state(last)}: {p.evaluated} evaluated, {p.feasible} feasible, "
              f"best {p.best_score:.6g}, pareto {p.pareto_size}, {p.elapsed_s:.1f}s",
              file=sys.stderr)
    state = _enum_name(last, "state")
    if state == "JOB_SUCCEEDED":
        return 0
    if state == "JOB_FAILED":
        print(f"error: job {job_id} failed: {last.error}", file=sys.stderr)
    elif state == "JOB_CANCELLED":
        print(f"error: job {job_id} was cancelled", file=sys.stderr)
    else:
        print(f"error: watch of job {job_id} ended while it was {_state(last)}", file=sys.stderr)
    return 1


def cmd_search_list(args: argparse.Namespace, client: Client) -> None:
    jobs = client.list_jobs()
    if args.json:
        return _dump(client.pb.service_pb2.ListJobsResponse(jobs=[unwrap(j) for j in jobs]))
    rows = []
    for j in jobs:
        s, p = j.spec, j.progress
        rows.append([j.id, s.name or "-", _state(j), s.space or "(inline)",
                     _enum_name(s, "algorithm").lower(), _enum_name(s, "objective").lower(),
                     f"{p.generation}/{p.generations or s.generations}", p.evaluated,
                     f"{p.best_score:.6g}", _when(j.created_unix_ms)])
    print(render.table(["id", "name", "state", "space", "algorithm", "objective", "gen",
                        "evaluated", "best", "created"], rows))


def cmd_search_show(args: argparse.Namespace, client: Client) -> None:
    job = client.get_job(args.id)
    if args.json:
        return _dump(job)
    _print_job(job)


def _print_job(job: Job) -> None:
    s, p = job.spec, job.progress
    print(f"job {job.id}  {s.name or ''}".rstrip())
    # The error adds to the state ("failed (CommitGeneration: ...)"), never repeats it.
    error = job.error if job.error and job.error.lower() != _state(job) else ""
    print(f"state       {_state(job)}" + (f"  ({error})" if error else ""))
    print(f"space       {s.space or 'inline ' + s.space_inline.name}")
    print(f"algorithm   {_enum_name(s, 'algorithm').lower()}  objective "
          f"{_enum_name(s, 'objective').lower()}  population {s.population or 'default'}  "
          f"generations {s.generations or 'default'}  seed {s.seed}")
    for b in s.budgets:
        print(f"budget      {b.hardware} <= {b.max_ms:g} ms"
              + (f" (table v{b.table_version})" if b.table_version else ""))
    if s.max_params or s.max_macs:
        print(f"caps        params {render.count(s.max_params) if s.max_params else '-'}  "
              f"MACs {render.count(s.max_macs) if s.max_macs else '-'}")
    if s.report_hardware:
        print(f"reported    {', '.join(s.report_hardware)}")
    print(f"progress    generation {p.generation}/{p.generations}  evaluated {p.evaluated}  "
          f"feasible {p.feasible}  best {p.best_score:.6g}  pareto {p.pareto_size}  "
          f"{p.elapsed_s:.1f}s")
    print(f"created     {_when(job.created_unix_ms)}  updated {_when(job.updated_unix_ms)}")
    for w in s.warnings:
        print(f"warning     {w}")


def cmd_search_cancel(args: argparse.Namespace, client: Client) -> None:
    job = client.cancel(args.id)
    if args.json:
        return _dump(job)
    print(f"job {job.id} {_state(job)}")


def cmd_search_watch(args: argparse.Namespace, client: Client) -> int:
    return _follow(client, args.id, json_lines=args.json)


# ------------------------------------------------------------ candidates
def _candidate_filters(args: argparse.Namespace) -> Dict[str, Any]:
    # lutnasd wants a maximum with every hardware filter; --hardware alone
    # (e.g. for --sort latency) means no maximum.
    max_latency = args.max_latency or (sys.float_info.max if args.hardware else 0.0)
    return dict(job_id=args.job, pareto_only=args.pareto, hardware=args.hardware,
                max_latency_ms=max_latency, max_params=args.max_params,
                order_by=args.sort, descending=args.desc, page_size=args.limit,
                page_token=args.page_token)


def cmd_candidates_list(args: argparse.Namespace, client: Client) -> None:
    filters = _candidate_filters(args)
    if args.all:
        cands = list(client.iter_candidates(**filters))
        token, total = "", len(cands)
    else:
        cands, token, total = client.list_candidates(**filters)
    if args.json:
        return _dump(client.pb.service_pb2.ListCandidatesResponse(
            candidates=[unwrap(c) for c in cands], next_page_token=token, total=total))
    hws = []
    for c in cands:
        for p in c.latency:
            if p.hardware not in hws:
                hws.append(p.hardware)
    rows = []
    for c in cands:
        lat = {p.hardware: p for p in c.latency}
        rows.append([c.id, c.job_id, c.generation, f"{c.score:.6g}", render.count(c.params),
                     render.count(c.macs)]
                    + [_latency_cell(lat[h]) if h in lat else "-" for h in hws]
                    + ["yes" if c.feasible else "no", "*" if c.pareto else ""])
    print(render.table(["id", "job", "gen", "score", "params", "MACs"]
                       + [f"{h} ms" for h in hws] + ["feasible", "pareto"], rows))
    shown = f"{len(cands)} of {total} candidates"
    print(shown + (f"; next page: --page-token {token}" if token else ""))
    if any(_is_estimate(p) for c in cands for p in c.latency):
        print(LATENCY_LEGEND)


def cmd_candidates_show(args: argparse.Namespace, client: Client) -> None:
    c = client.get_candidate(args.id)
    if args.json:
        return _dump(c)
    a = c.arch
    print(f"candidate {c.id}  (job {c.job_id}, generation {c.generation})")
    print(f"arch        {a.name or '-'}  hash {c.arch_hash}  resolution {a.resolution}")
    if c.genotype:
        print(f"genotype    {c.genotype}")
    print(f"score       {c.score:.6g}  feasible {'yes' if c.feasible else 'no'}  "
          f"pareto {'yes' if c.pareto else 'no'}")
    print(f"params      {c.params:,} ({render.count(c.params)})  MACs {c.macs:,} "
          f"({render.count(c.macs)})  memory access {c.mac_bytes / 2**20:.2f} MiB")
    print("\narchitecture:")
    rows = [[f"stem[{i}]", block_summary(b)] for i, b in enumerate(a.stem)]
    for si, st in enumerate(a.stages):
        rows += [[f"stages[{si}].blocks[{bi}]", block_summary(b)] for bi, b in enumerate(st.blocks)]
    rows.append(["head", _fields_text(a.head) or "(defaults)"])
    print("  " + render.table(["where", "block"], rows).replace("\n", "\n  "))
    if c.latency:
        print()
        _print_predictions(c.latency)
        for p in c.latency:
            if p.blocks:
                _print_breakdown(p)


# ------------------------------------------------------------ plot / export
def cmd_plot(args: argparse.Namespace, client: Client) -> None:
    from ..plot import plot_pareto

    job = client.get_job(args.job)
    hw = args.hardware or (job.spec.budgets[0].hardware if job.spec.budgets else "")
    cands = list(client.iter_candidates(job_id=args.job, page_size=1000))
    if not cands:
        raise CLIError(f"job {args.job} has no candidates yet")
    if not hw:
        hw = next((p.hardware for c in cands for p in c.latency), "")
        if not hw:
            raise CLIError(f"job {args.job}: candidates carry no latency; give --hardware")
    points: list[tuple[float, float]] = []  # (latency_ms, score)
    infeasible: list[int] = []
    estimated: list[int] = []
    skipped = 0
    for c in cands:
        pred = next((p for p in c.latency if p.hardware == hw), None)
        if pred is None:
            skipped += 1
            continue
        if not c.feasible:
            infeasible.append(len(points))
        if pred.measured_fraction < 1.0:  # partly estimated: marked in the plot
            estimated.append(len(points))
        points.append((pred.latency_ms, c.score))
    if not points:
        raise CLIError(f"job {args.job}: no candidate has a latency on {hw!r}")
    budget = next((b.max_ms for b in job.spec.budgets if b.hardware == hw), None)
    title = (f"job {job.id} {job.spec.name or ''}: {job.spec.space or 'inline space'}, "
             f"{_enum_name(job.spec, 'objective').lower()}")
    from .. import zoo
    try:
        refs = zoo.references(client, args.zoo, hw)
    except zoo.ZooError as e:
        raise CLIError(str(e)) from None
    front = plot_pareto(points, args.output, hw, budget_ms=budget, title=title,
                        infeasible=infeasible, estimated=estimated,
                        references=[(n, ms) for n, ms, _ in refs])
    for n, ms, frac in refs:
        print(f"zoo {n}: {ms:.4g} ms predicted on {hw} ({frac:.0%} of the block sum measured)")
    print(f"wrote {args.output}: {len(points)} candidates, Pareto front of {len(front)}"
          + (f" ({skipped} without a latency on {hw} left out)" if skipped else ""))


def cmd_export(args: argparse.Namespace, client: Client) -> None:
    if args.format == "onnx":
        from ..torch_export import export_onnx, require_torch

        require_torch()  # fail before the RPC when torch is missing
        resp = client.export_candidate(args.id, "pytorch")
        out = args.output or f"candidate_{args.id}.onnx"
        shape = export_onnx(resp.content, out, opset=args.opset, name=f"candidate_{args.id}")
        print(f"wrote {out} (input {'x'.join(str(d) for d in shape)})")
        return
    resp = client.export_candidate(args.id, args.format)
    suffix = "py" if args.format == "pytorch" else "json"
    out = args.output or resp.filename or f"candidate_{args.id}.{suffix}"
    _write_output(out, resp.content)
    if out != "-":
        print(f"wrote {out}")


# ------------------------------------------------------------ main
def make_client(args: argparse.Namespace) -> Client:
    certs = None
    if args.tls_ca:
        certs = args.tls_ca
    elif args.tls:
        certs = b""
    return Client(args.server, timeout=args.timeout or None, token=args.token,
                  root_certificates=certs)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    _check_args(args)
    if hasattr(args, "json"):
        args.json = args.json or args.json_global
    try:
        with make_client(args) as client:
            return args.func(args, client) or 0
    except Unavailable as e:
        print(f"error: {unreachable_hint(e, args.server)}", file=sys.stderr)
    except (LutnasError, CLIError, StubError, TorchMissing, tablefile.TableFileError,
            external.ExternalError, insights.InsightsError, ToolError) as e:
        print(f"error: {e}", file=sys.stderr)
    except BrokenPipeError:  # e.g. `lutnas candidates list | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        print(f"error: {where}{e.strerror or e}", file=sys.stderr)
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    return 1
