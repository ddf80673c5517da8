#!/usr/bin/env bash
# Are corrections reproducible on a noisy machine, and what refuses them?
# Three `lutnas-profile validate` runs on the same edge table (same seed, so
# the same networks) with the second core kept busy (`yes > /dev/null`),
# then three without it. Prints one line per run: exit code, fitted scale /
# offset, method, reproducibility (two disjoint halves), reference drift
# (a note: rounds are corrected, not refused), extra rounds, leave-one-out
# accuracy, Kendall tau of the table and of MACs, load average, and why a
# run was refused; then whether the accepted runs' scales agree within +-5%.
#   bench/validate_noise.sh [SAMPLES] [TABLE.csv]   (defaults: 30, var/bench-edge.csv)
# The edge table (642 keys) is measured first when TABLE does not exist
# (a few minutes on a 2-core box; --resume continues an interrupted one).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${LUTNAS_BUILD_DIR:-build}/bin"
SAMPLES="${1:-30}"
TABLE="${2:-var/bench-edge.csv}"
SPACE=search/spaces/edge.json
mkdir -p "$(dirname "$TABLE")"
if ! grep -q '^key,' "$TABLE" 2>/dev/null || [ "$(grep -c ',measured,\|,failed,' "$TABLE")" -lt "$("$BIN/lutnas-inspect" --space "$SPACE" --keys | wc -l)" ]; then
  echo "== measuring the edge table into $TABLE"
  "$BIN/lutnas-profile" table --space "$SPACE" --hardware host-cpu --out "$TABLE" --resume
fi
OUT=$(mktemp -d /tmp/lutnas-bench-validate.XXXXXX)
YPID=""
cleanup() { [ -n "$YPID" ] && kill "$YPID" 2>/dev/null || true; rm -rf "$OUT"; }
trap cleanup EXIT

run() {  # run LABEL N
  local label=$1 n=$2 rc=0 load
  load=$(cut -d' ' -f1 /proc/loadavg)
  "$BIN/lutnas-profile" validate --space "$SPACE" --table "$TABLE" --samples "$SAMPLES" --seed 1 --json \
    > "$OUT/$label$n.json" 2> "$OUT/$label$n.err" || rc=$?
  /usr/bin/python3 - "$OUT/$label$n.json" "$label" "$n" "$rc" "$load" <<'PY'
import json, sys
path, label, n, rc, load = sys.argv[1:]
lines = [l for l in open(path) if l.startswith("{")]
if not lines:
    print(f"{label} {n}: exit {rc}, no result"); sys.exit(0)
v = json.loads(lines[-1]); c = v["correction"]; r = v["reproducibility"]
why = "; ".join(f'{x["field"]}: {x["reason"]}' for x in v["refusals"]) or "-"
print(f'{label:5s} {n}: exit {rc} accepted={str(v["accepted"]).lower():5s} scale {c["scale"]:.4f} '
      f'offset {c["offset_ms"]:+.4f} ms ({c["method"]}); halves {r["scale_half_a"]:.4f}/{r["scale_half_b"]:.4f} '
      f'({100*r["rel_diff"]:.1f}% apart); drift {100*v["reference_drift"]:.1f}% kept, '
      f'{100*v["rounds"]["drift_all"]:.1f}% all, {v["rounds"]["run"] - v["rounds"]["planned"]} extra rounds; '
      f'LOO {100*v["within_10pct"]:.0f}% within 10%, MAPE {100*v["mape"]:.1f}% (raw {100*v["mape_raw"]:.1f}%); '
      f'tau {v.get("kendall_tau_fit", v["kendall_tau_lut"]):.3f} vs MACs {v["kendall_tau_macs"]:.3f}; load {load}; refused: {why}')
with open(path + ".line", "w") as f:
    f.write(f'{label} {int(v["accepted"])} {c["scale"]}\n')
PY
}

echo "== host: $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== three runs with the second core busy (yes > /dev/null), $SAMPLES networks each"
yes > /dev/null &
YPID=$!
for i in 1 2 3; do run busy "$i"; done
kill "$YPID"; wait "$YPID" 2>/dev/null || true; YPID=""
echo "== three runs without it (load average now $(cut -d' ' -f1-3 /proc/loadavg))"
for i in 1 2 3; do run quiet "$i"; done
cat "$OUT"/*.line 2>/dev/null | /usr/bin/python3 -c '
import sys
rows = [l.split() for l in sys.stdin if l.strip()]
for label in ("busy", "quiet"):
    acc = [float(s) for l, a, s in rows if l == label and a == "1"]
    ref = sum(1 for l, a, s in rows if l == label and a == "0")
    if len(acc) >= 2:
        mid = (max(acc) + min(acc)) / 2
        print(f"{label}: {len(acc)} accepted, scales within +-{100*(max(acc)-min(acc))/2/mid:.1f}% of their middle; {ref} refused")
    else:
        print(f"{label}: {len(acc)} accepted, {ref} refused (see the reasons above)")
'
