#!/usr/bin/env bash
# The issue-15 zoo on this machine: measures a host-cpu table of every block key
# of the new zoo models (lutnas-profile table --keys), serves it from a fresh
# lutnasd, and prints each model's params, MACs, predicted latency (block sum,
# no correction) and measured end-to-end latency (lutnas-profile measure, in
# the table's time units: median, p10-p90) side by side.
#   bench/zoo_host_cpu.sh [OUT_DIR]     # default var/zoo-bench; ~5 min here
# Run at normal priority (measurements); the figures are noisy on a shared box.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${LUTNAS_BUILD_DIR:-build}/bin"
OUT="${1:-var/zoo-bench}"
mkdir -p "$OUT"
MODELS=(mobilenet_v3_large mobilenet_v3_small efficientnet_b0 efficientnet_b1
        regnet_y_400mf regnet_y_800mf yolov8n_backbone)
: > "$OUT/keys.txt"
for m in "${MODELS[@]}"; do
  "$BIN/lutnas-inspect" "models/$m.json" --json > "$OUT/$m.cost.json"
  /usr/bin/python3 -c 'import json,sys; [print(b["key"]) for b in json.load(open(sys.argv[1]))["blocks"]]' \
    "$OUT/$m.cost.json" >> "$OUT/keys.txt"
done
sort -u -o "$OUT/keys.txt" "$OUT/keys.txt"
echo "== $(wc -l < "$OUT/keys.txt") distinct keys"
start=$(date +%s)
"$BIN/lutnas-profile" table --keys "$OUT/keys.txt" --hardware host-cpu --out "$OUT/zoo.csv" 2>&1 | tail -1
echo "== table measured in $(( $(date +%s) - start )) s"

PORT_FILE=$(mktemp -u /tmp/lutnasd-port.XXXXXX)
rm -f "$OUT/lutnas.db"*
"$BIN/lutnasd" --listen 127.0.0.1:0 --port_file "$PORT_FILE" --db "$OUT/lutnas.db" 2> "$OUT/lutnasd.log" &
DPID=$!
trap 'kill -TERM $DPID 2>/dev/null; wait $DPID 2>/dev/null || true; rm -f "$PORT_FILE"' EXIT
for _ in $(seq 300); do [ -s "$PORT_FILE" ] && break; sleep 0.1; done
export LUTNAS_SERVER="127.0.0.1:$(cat "$PORT_FILE")"
scripts/lutnas table import "$OUT/zoo.csv" --hardware host-cpu > /dev/null
for m in "${MODELS[@]}"; do
  scripts/lutnas predict "models/$m.json" --hardware host-cpu --json > "$OUT/$m.pred.json"
done
args=()
for m in "${MODELS[@]}"; do args+=("models/$m.json"); done
"$BIN/lutnas-profile" measure "${args[@]}" --table "$OUT/zoo.csv" --json > "$OUT/measured.json"
/usr/bin/python3 - "$OUT" "${MODELS[@]}" <<'PY'
import json, sys
out, models = sys.argv[1], sys.argv[2:]
meas = {m["name"]: m for m in json.load(open(f"{out}/measured.json"))}
print(f"{'model':20s} {'params':>9s} {'MMACs':>8s} {'pred_ms':>8s} {'meas_ms':>8s} {'p10-p90 ms':>15s} {'err':>6s}")
for name in models:
    cost = json.load(open(f"{out}/{name}.cost.json"))
    pred = json.load(open(f"{out}/{name}.pred.json"))["predictions"][0]
    m = meas[name]
    p = pred.get("latency_ms", 0.0)
    err = (p - m["median_ms"]) / m["median_ms"]
    print(f"{name:20s} {cost['params']:9d} {cost['macs'] / 1e6:8.1f} {p:8.2f} {m['median_ms']:8.2f} "
          f"{m['p10_ms']:7.2f}-{m['p90_ms']:<7.2f} {err:+6.0%}")
PY
