#!/usr/bin/env bash
# Does a LibTorch block table reproduce on a noisy machine, without
# --accept-noisy? Measures the same keys four times: twice as the machine is,
# twice with the second core kept busy (`yes > /dev/null`, killed after);
# reports per run the time, extra rounds and keys left out, then the per-key
# ratios between every pair of tables (p10, median, p90) and the zoo's block
# sums from each table (spread across the four). Then the level: the first
# table's block sum of each zoo network against `lutnas-profile measure` of
# the whole network (C++ LibTorch, what a C++ deployment runs).
#   bench/table_noise.sh [OUT_DIR] [EVERY]   # defaults var/table-noise, 4
# Keys: every key of models/*.json (224 px) plus every EVERY-th key of the
# edge space (a subset: the full edge table takes several minutes a run here).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${LUTNAS_BUILD_DIR:-build}/bin"
OUT="${1:-var/table-noise}"
EVERY="${2:-4}"
mkdir -p "$OUT"
MODELS=(models/*.json)
: > "$OUT/keys.txt"
for m in "${MODELS[@]}"; do
  "$BIN/lutnas-inspect" "$m" --json > "$OUT/$(basename "$m" .json).cost.json"
  /usr/bin/python3 -c 'import json,sys; [print(b["key"]) for b in json.load(open(sys.argv[1]))["blocks"]]' \
    "$OUT/$(basename "$m" .json).cost.json" >> "$OUT/keys.txt"
done
"$BIN/lutnas-inspect" --space search/spaces/edge.json --keys | awk -v n="$EVERY" 'NR % n == 1' >> "$OUT/keys.txt"
sort -u -o "$OUT/keys.txt" "$OUT/keys.txt"
echo "== $(wc -l < "$OUT/keys.txt") distinct keys ($(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg))"
YPID=""
cleanup() { [ -n "$YPID" ] && kill "$YPID" 2>/dev/null || true; }
trap cleanup EXIT
run() {  # run NAME
  local start rc=0
  start=$(date +%s.%N)
  "$BIN/lutnas-profile" table --keys "$OUT/keys.txt" --hardware host-cpu --out "$OUT/$1.csv" \
    2> "$OUT/$1.err" || rc=$?
  printf '%-7s exit %d in %5.1f s, load %s: %s\n' "$1" "$rc" "$(echo "$(date +%s.%N) - $start" | bc)" \
    "$(cut -d' ' -f1 /proc/loadavg)" "$(tr '\r' '\n' < "$OUT/$1.err" | grep -E '^measured|left out' | tr '\n' ' ')"
}
run quiet1
run quiet2
yes > /dev/null &
YPID=$!
run busy1
run busy2
kill "$YPID"; wait "$YPID" 2>/dev/null || true; YPID=""
"$BIN/lutnas-profile" measure "${MODELS[@]}" --table "$OUT/quiet1.csv" --json > "$OUT/measured.json" \
  2> "$OUT/measured.err" || true
/usr/bin/python3 - "$OUT" "${MODELS[@]}" <<'PY'
import itertools, json, statistics, sys
out, models = sys.argv[1], sys.argv[2:]
names = ["quiet1", "quiet2", "busy1", "busy2"]
def table(name):
    t = {}
    for line in open(f"{out}/{name}.csv"):
        # key (commas inside), median_ms, iqr_ms, p10_ms, p90_ms, samples, status, error
        p = line.rstrip("\n").split(",")
        if len(p) >= 8 and not line.startswith("#") and not line.startswith("key,") and p[-2] == "measured":
            t[",".join(p[:-7])] = float(p[-7])
    return t
tabs = {n: table(n) for n in names}
def q(v, f):
    v = sorted(v); i = f * (len(v) - 1); lo = int(i); hi = min(lo + 1, len(v) - 1)
    return v[lo] + (i - lo) * (v[hi] - v[lo])
print("per-key ratio a/b over the keys both have:   p10     median  p90    (p90-p10)/2")
for a, b in itertools.combinations(names, 2):
    r = [tabs[a][k] / tabs[b][k] for k in tabs[a] if k in tabs[b] and tabs[b][k] > 0]
    print(f"  {a:6s}/{b:6s} {len(r):4d} keys: {q(r,.1):7.3f} {q(r,.5):7.3f} {q(r,.9):7.3f}  +-{50*(q(r,.9)-q(r,.1)):.1f}%")
meas = {}
try:
    meas = {m["name"]: m for m in json.load(open(f"{out}/measured.json"))}
except (OSError, ValueError):
    pass
print(f"{'zoo network (224 px)':22s} " + " ".join(f"{n:>8s}" for n in names) +
      "  spread   measure_ms  quiet1/measure")
spreads, levels = [], []
for path in models:
    name = path.split("/")[-1][:-5]
    keys = [b["key"] for b in json.load(open(f"{out}/{name}.cost.json"))["blocks"]]
    sums = []
    for n in names:
        sums.append(sum(tabs[n][k] for k in keys) if all(k in tabs[n] for k in keys) else float("nan"))
    ok = [s for s in sums if s == s]
    sp = (max(ok) - min(ok)) / statistics.median(ok) if ok else float("nan")
    spreads.append(sp)
    m = meas.get(path, {}).get("median_ms", float("nan"))
    lvl = sums[0] / m if m == m and m > 0 else float("nan")
    levels.append(lvl)
    print(f"{name:22s} " + " ".join(f"{s:8.3f}" for s in sums) + f"  {100*sp:5.1f}%  {m:9.3f}  {lvl:8.3f}")
ok = [s for s in spreads if s == s]
print(f"zoo: max/min - 1 across the four tables: median {100*statistics.median(ok):.1f}%, max {100*max(ok):.1f}%")
lv = [x for x in levels if x == x]
if lv:
    print(f"level block sum / whole network (C++ LibTorch): median {statistics.median(lv):.3f}, "
          f"range {min(lv):.3f}..{max(lv):.3f}")
PY
