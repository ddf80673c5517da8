"""Named device sets: `lutnas hardware profile NAME` says, for each device of
the set, what lutnas knows of its latency: a measured table (version, entries,
failed and cpu_fallback keys), a spec-only prior fitted to published figures,
the plain 50% spec prior, or nothing (no published peaks: predictions fail
until a table is measured or imported).

vita: the edge box that motivated lutnas (shared/DESIGN.md): a Rockchip
RK3588 (8-core CPU, Mali-G610 MP4, 6-TOPS NPU), a Huawei Atlas 200I A2
(20-TOPS NPU) and an FPGA. A search over the box puts budgets on the devices
the network will run on, e.g. both NPUs:

    lutnas search submit --space edge --budget rk3588-npu=6 --budget atlas-200i-a2=3 ...
"""

import argparse
import json
from typing import TYPE_CHECKING, Any, Callable, Dict

from .. import render

if TYPE_CHECKING:
    from ..client import Client

PROFILES: Dict[str, Dict[str, Any]] = {
    "vita": {
        "description": "VITA edge box: Rockchip RK3588 (CPU, Mali-G610, 6-TOPS NPU), "
                       "Huawei Atlas 200I A2 (20-TOPS NPU), an FPGA",
        "devices": ["rk3588-npu", "atlas-200i-a2", "rk3588-cpu", "mali-g610", "vita-fpga"],
        "npus": ["rk3588-npu", "atlas-200i-a2"],
    },
}


class ProfileError(ValueError):
    """An unknown profile name."""


def profile(name: str) -> Dict[str, Any]:
    if name not in PROFILES:
        raise ProfileError(f"profile: unknown profile {name!r} (known: {', '.join(sorted(PROFILES))})")
    return PROFILES[name]


def device_state(client: "Client", name: str) -> Dict[str, Any]:
    """What lutnas knows of one device's latency, as a dict."""
    from ..errors import NotFound

    try:
        hw = client.get_hardware(name)
    except NotFound:
        return {"hardware": name, "registered": False, "latency": "not registered"}
    tables = sorted(client.list_tables(name), key=lambda t: t.version)
    d: Dict[str, Any] = {"hardware": name, "registered": True, "peak_gops": hw.peak_gops,
         "bandwidth_gbs": hw.bandwidth_gbs, "published_figures": len(hw.published),
         "table_version": tables[-1].version if tables else 0}
    if tables:
        t = tables[-1]
        d["latency"] = f"measured table v{t.version} ({t.entries} entries, {t.failed} failed)"
    elif hw.peak_gops > 0 and hw.bandwidth_gbs > 0:
        if len(hw.efficiency):
            e = hw.efficiency[0]
            d["latency"] = (f"spec prior, efficiency compute {e.compute:.3g} / bandwidth {e.bandwidth:.3g} "
                            f"fitted on {len(hw.published)} published figure(s)")
        else:
            d["latency"] = "spec prior at 50% of the published peaks (no published figures cited)"
    else:
        d["latency"] = "none: no table and no published peaks (predictions fail)"
    return d


def cmd_profile(args: argparse.Namespace, client: "Client") -> int:
    p = profile(args.name)
    states = [device_state(client, n) for n in p["devices"]]
    if args.json:
        print(json.dumps({"profile": args.name, "description": p["description"], "devices": states},
                         indent=1))
        return 0
    print(f"{args.name}: {p['description']}")
    print(render.table(["hardware", "peak GOPS", "GB/s", "latency known from"],
                       [[s["hardware"], f"{s.get('peak_gops', 0):g}", f"{s.get('bandwidth_gbs', 0):g}",
                         s["latency"]] for s in states]))
    budgets = " ".join(f"--budget {n}=MS" for n in p["npus"])
    print(f"search on both NPUs: lutnas search submit --space edge {budgets} --generations N")
    return 0


def add_parser(hardware_sub: "argparse._SubParsersAction[argparse.ArgumentParser]",
               json_flag: Callable[[argparse.ArgumentParser], None]) -> None:
    c = hardware_sub.add_parser("profile", help="what lutnas knows of a named device set (vita)")
    c.add_argument("name", choices=sorted(PROFILES))
    json_flag(c)
    c.set_defaults(func=cmd_profile)
