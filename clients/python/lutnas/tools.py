"""The lutnas C++ command-line tools as seen from Python: finding the
binaries and the few things profile-external and insights ask of them.

Binaries are looked up in $LUTNAS_BUILD_DIR/bin (relative paths are taken
from the repository root), then in the checkout's build/bin, then on PATH.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

ROOT = Path(__file__).resolve().parents[3]  # the checkout (clients/python/lutnas/..)


class ToolError(RuntimeError):
    """A lutnas tool is missing or failed; the message says which and why."""


def find_tool(name: str) -> str:
    """Path of the lutnas binary `name` (e.g. "lutnas-inspect")."""
    candidates = []
    env = os.environ.get("LUTNAS_BUILD_DIR")
    if env:
        build = Path(env)
        candidates.append((build if build.is_absolute() else ROOT / build) / "bin" / name)
    candidates.append(ROOT / "build" / "bin" / name)
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return str(c)
    found = shutil.which(name)
    if found:
        return found
    raise ToolError(f"{name} not found (looked in {', '.join(str(c.parent) for c in candidates)} "
                    "and PATH; build it with scripts/bootstrap or set LUTNAS_BUILD_DIR)")


def _run(argv: List[str], stdin: Optional[str] = None, what: Optional[str] = None) -> str:
    try:
        r = subprocess.run(argv, input=stdin, capture_output=True, text=True)
    except OSError as e:
        raise ToolError(f"{argv[0]}: {e.strerror or e}") from None
    if r.returncode != 0:
        msg = (r.stderr.strip().splitlines() or [f"exit status {r.returncode}"])[-1]
        raise ToolError(f"{what or os.path.basename(argv[0])}: {msg}")
    return r.stdout


def read_key_lines(text: str) -> List[str]:
    """Keys of a key-list file: one per line; blank lines and '#' comments are
    skipped, duplicates kept once (the rules of lutnas-profile --keys)."""
    keys = []
    for line in text.splitlines():
        k = line.strip()
        if k and not k.startswith("#"):
            keys.append(k)
    return list(dict.fromkeys(keys))


def space_keys(space_path: Any) -> List[str]:
    """Every latency-table key of a space file, in lutnas-inspect's order."""
    out = _run([find_tool("lutnas-inspect"), "--space", str(space_path), "--keys"],
               what=f"lutnas-inspect --space {space_path} --keys")
    return read_key_lines(out)


def key_costs(keys: Iterable[str]) -> Dict[str, Dict[str, Any]]:
    """{key: cost dict} from `lutnas-inspect --keys -` (type, in, out, params,
    macs, mac_bytes, activations). An invalid key raises ToolError naming it."""
    keys = list(dict.fromkeys(keys))
    if not keys:
        return {}
    out = _run([find_tool("lutnas-inspect"), "--keys", "-"], stdin="\n".join(keys) + "\n",
               what="lutnas-inspect --keys")
    costs = {}
    for line in out.splitlines():
        if line.strip():
            d = json.loads(line)
            costs[d["key"]] = d
    return costs


def key_pytorch(key: str) -> str:
    """The PyTorch code (build_model(), INPUT_SHAPE) of one table key."""
    return _run([find_tool("lutnas-inspect"), "--key", key, "--pytorch"],
                what=f"lutnas-inspect --key {key}")
