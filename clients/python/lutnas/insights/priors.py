"""`lutnas hardware check-priors`: how far the spec-only prior of each device
is from the published end-to-end figures its catalogue entry cites.

For a device without a measured table lutnasd predicts from the published
peaks scaled by fitted efficiencies (Hardware.efficiency, fitted to
Hardware.published; latency_models/spec_prior.h). This command runs
`lutnas-priors` on the daemon's hardware (or on a catalogue file with
--catalog, no daemon needed) and prints, per cited figure: the published
latency, the old 50%-of-peak roofline ("default"), what lutnasd answers now
("now", from the stored efficiencies), and the leave-one-out estimate
(efficiencies fitted on the device's other figures only) with its factor
off, max(est/pub, pub/est). A device with a single figure has no
leave-one-out check: the left-out figure falls back to the 50% default.
"""

import argparse
import json
import os
import tempfile
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Union

from .. import render, tools

if TYPE_CHECKING:
    from ..client import Client

DEFAULT_MODELS = tools.ROOT / "models"
GOAL = 1.5


def run_priors(catalog_path: Union[str, "os.PathLike[str]"], models: Union[str, "os.PathLike[str]"] = DEFAULT_MODELS,
               hardware: Optional[str] = None) -> Any:
    """The parsed `lutnas-priors --json` report of a catalogue file."""
    argv = [tools.find_tool("lutnas-priors"), "--catalog", str(catalog_path),
            "--models", str(models), "--json"]
    if hardware:
        argv += ["--hardware", hardware]
    return json.loads(tools._run(argv, what="lutnas-priors"))


def daemon_catalog(client: "Client") -> str:
    """The daemon's hardware as catalogue JSON text."""
    from google.protobuf import json_format

    msg = client.pb.service_pb2.ListHardwareResponse(hardware=[h.proto for h in client.list_hardware()])
    return json_format.MessageToJson(msg, preserving_proto_field_name=True)


def report_text(rep: Dict[str, Any]) -> str:
    lines: List[str] = []
    if not rep["devices"]:
        return "no device cites published figures\n"
    for d in rep["devices"]:
        stored = d["stored"]
        eff = (f"stored efficiency: compute {stored['compute']:.3g}, bandwidth {stored['bandwidth']:.3g}"
               if stored else "no stored efficiency (lutnasd uses the 50% default)")
        fit = d["fit"]
        lines.append(f"{d['hardware']}: {d['figures']} published figure{'s' * (d['figures'] != 1)}; {eff}; "
                     f"fit on all: compute {fit['compute']:.3g}, bandwidth {fit['bandwidth']:.3g}")
        rows = [[r["network"], f"{r['published_ms']:.3f}", f"{r['default_ms']:.3f}",
                 f"{r['stored_ms']:.3f}", f"{r['loo_ms']:.3f}", f"{r['loo_ratio']:.2f}x"]
                for r in d["rows"]]
        lines.append(render.table(["network", "published ms", "default ms", "now ms", "LOO ms", "LOO off"],
                                  rows))
        if not d["enough_figures"]:
            lines.append("  too few figures for leave-one-out: one figure fits the device's single "
                         "factor and leaves nothing to check it on")
        else:
            w = d["worst_loo_ratio"]
            lines.append(f"  worst leave-one-out factor {w:.2f} ({'within' if w <= GOAL else 'outside'} "
                         f"{GOAL:g}x)")
        lines.append("")
    return "\n".join(lines)


def cmd_check_priors(args: argparse.Namespace, client: "Client") -> int:
    if args.catalog:
        rep = run_priors(args.catalog, args.models, args.hardware)
    else:
        fd, path = tempfile.mkstemp(prefix="lutnas-catalog-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(daemon_catalog(client))
            rep = run_priors(path, args.models, args.hardware)
        finally:
            os.unlink(path)
    if args.json:
        print(json.dumps(rep, indent=1))
    else:
        print(report_text(rep), end="")
    return 0


def add_parser(hardware_sub: "argparse._SubParsersAction[argparse.ArgumentParser]",
               json_flag: Callable[[argparse.ArgumentParser], None]) -> None:
    c = hardware_sub.add_parser(
        "check-priors", help="leave-one-out error of the spec-only priors on published figures")
    c.add_argument("--catalog", metavar="FILE.json",
                   help="check a catalogue file (server/hardware_catalog.json) instead of the daemon's hardware")
    c.add_argument("--hardware", metavar="NAME", help="one device only")
    c.add_argument("--models", metavar="DIR", default=str(DEFAULT_MODELS),
                   help="zoo models the figures name (default: the checkout's models/)")
    json_flag(c)
    c.set_defaults(func=cmd_check_priors)
