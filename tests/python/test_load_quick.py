"""bench/load_test.py in its quick mode (10 s, 8 Predict clients, 2 searches,
one 20,000-entry upload): no call may fail, lutnasd must stop cleanly, and
its RSS may not grow by 200 MiB or more."""

import json
import subprocess
import sys

import pytest

from conftest import ROOT, lutnasd_path

MiB_KIB = 1024
MAX_GROWTH_KIB = 200 * MiB_KIB


def test_quick_load_has_no_failures_and_bounded_rss():
    if not lutnasd_path().exists():
        pytest.skip(f"lutnasd is not built yet ({lutnasd_path()} missing)")
    res = subprocess.run([sys.executable, str(ROOT / "bench" / "load_test.py"), "--quick",
                          "--json"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert res.returncode in (0, 1), f"load_test.py crashed:\n{res.stdout}\n{res.stderr[-4000:]}"
    r = json.loads(res.stdout.strip().splitlines()[-1])
    summary = (f"{r['total_calls']} calls, {r['failed_calls']} failed, p50 {r['p50_ms']} ms, "
               f"p99 {r['p99_ms']} ms, RSS {r['rss_start_kib'] // 1024} -> "
               f"{r['rss_end_kib'] // 1024} MiB (peak {r['rss_peak_kib'] // 1024})")
    print(summary)
    assert r["failed_calls"] == 0, f"{summary}; errors: {r['errors']}"
    assert r["daemon_exit"] == 0, f"lutnasd exited with {r['daemon_exit']} on SIGTERM"
    assert r["predict_calls"] > 100 * r["clients"], summary  # the load really ran
    assert r["upload_entries"] == 20000, summary
    assert r["searches_submitted"] >= 2, summary
    assert r["rss_end_kib"] - r["rss_start_kib"] < MAX_GROWTH_KIB, summary
    assert r["rss_peak_kib"] - r["rss_start_kib"] < MAX_GROWTH_KIB, summary
