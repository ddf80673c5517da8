"""Helpers for the crash tests, on top of conftest.py's Daemon class and data
helpers (kept apart from conftest.py; nothing here needs pytest).

- space_keys(space): the latency-table keys of a shipped space, from
  `lutnas-inspect --space search/spaces/<space>.json --keys`.
- synthetic_keys(n, spaces): n distinct keys the daemon accepts: the spaces'
  own keys first, then the same blocks at other input sizes.
- synthetic_entries(keys, seed): LatencyEntry dicts with values that tell
  uploads apart (entry i of upload `seed` has median seed + (i+1)/1024).
- integrity_check(db): PRAGMA integrity_check through the sqlite3 CLI on a
  copy of the database and its -wal/-shm files (the daemon's own recovery
  must be what touches the real files).
- sql(db, query): rows of a read-only query through the sqlite3 CLI, again
  on a copy.
- search_result(client, job_id): a job's stored candidates as comparable sets
  (hashes in id order, id -> hash, Pareto hashes, scored triples).
"""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def build_dir():
    build = Path(os.environ.get("LUTNAS_BUILD_DIR", "build"))
    return build if build.is_absolute() else ROOT / build


def space_keys(space):
    """The table keys of search/spaces/<space>.json, as lutnas-inspect lists them."""
    res = subprocess.run([str(build_dir() / "bin" / "lutnas-inspect"), "--space",
                          str(ROOT / "search" / "spaces" / f"{space}.json"), "--keys"],
                         capture_output=True, text=True, timeout=60, check=True)
    return res.stdout.split()


def synthetic_keys(n, spaces=("edge",)):
    """n distinct valid keys: the spaces' keys, then each block of them again
    at other square input sizes (same op and channels, HxW 4..)."""
    base = []
    for s in spaces:
        base += space_keys(s)
    base = list(dict.fromkeys(base))
    keys = list(base)
    seen = set(keys)
    size = 4
    while len(keys) < n:
        for k in base:
            op, shape = k.split("@")
            c = shape.split("x")[0]
            v = f"{op}@{c}x{size}x{size}"
            if v not in seen:
                seen.add(v)
                keys.append(v)
                if len(keys) == n:
                    break
        size += 1
        if size > 1024:
            raise ValueError(f"cannot make {n} keys from {spaces}")
    return keys[:n]


def synthetic_entries(keys, seed=0):
    """LatencyEntry dicts (the JSON mapping), distinct per entry and per seed;
    all values are exactly representable."""
    out = []
    for i, k in enumerate(keys):
        m = seed + (i + 1) / 1024
        out.append({"key": k, "median_ms": m, "iqr_ms": 1 / 64, "p10_ms": m * 0.75,
                    "p90_ms": m * 1.25, "samples": 7, "status": "ENTRY_MEASURED"})
    return out


def _copy_db(db, into):
    db = Path(db)
    for f in db.parent.glob(db.name + "*"):  # lutnas.db, -wal, -shm
        shutil.copy2(f, Path(into) / f.name)
    return Path(into) / db.name


def sql(db, query):
    """Rows (lists of strings, '|'-separated by the CLI) of a query, run on a copy."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = _copy_db(db, tmp)
        res = subprocess.run(["sqlite3", "-batch", str(copy), query], capture_output=True,
                             text=True, timeout=120)
    if res.returncode != 0:
        raise RuntimeError(f"sqlite3 {query!r}: {res.stderr.strip()}")
    return [line.split("|") for line in res.stdout.splitlines()]


def integrity_check(db):
    """'ok' when the database (with its WAL, as a crash left it) is sound."""
    return "\n".join("|".join(r) for r in sql(db, "PRAGMA integrity_check"))



def search_result(c, job_id):
    cands = list(c.iter_candidates(job_id=job_id, page_size=1000))
    return {
        "hashes": [x.arch_hash for x in cands],
        "ids": {x.id: x.arch_hash for x in cands},
        "pareto": {x.arch_hash for x in cands if x.pareto},
        "scored": {(x.arch_hash, x.score, x.feasible) for x in cands},
    }
