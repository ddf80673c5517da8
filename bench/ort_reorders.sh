#!/usr/bin/env bash
# Issue 11, round 5: does leaving ONNX Runtime's boundary NCHWc reorders out of lone
# blocks (bench-onnx --exclude-boundary-reorders), or normalising by the reference
# once per run instead of per round, make host-ort's table predict whole networks
# better? Side by side from ONE measurement: the host-ort table (edge + zoo keys,
# one process, 3 runs) measured with the exclusion, every bench-onnx output kept
# (bench/tee_stdout.sh); its 60 random edge networks (seed 1, 3 runs) and the zoo
# at 224 px measured once. bench/ort_reorders_analyse.py then rebuilds the table
# with and without the exclusion (the excluded share is on every line) and with
# either normalisation, refits each through lutnas-profile fit-correction
# (leave-one-out) and predicts the zoo through a real lutnasd with each fit.
#   bench/ort_reorders.sh [OUT_DIR]     # default var/ort-reorders; ~14 min on a quiet host
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-var/ort-reorders}"
# shellcheck source=bench/external_common.sh
. bench/external_common.sh
KEEP="bench/tee_stdout.sh $OUT/logs"
mkdir -p "$OUT"
ZOO=$(bench/zoo_keys.sh zoo)
echo "$ZOO" > "$OUT/zoo-files.txt"
if [ ! -s "$OUT/ort.csv" ]; then
  bench/zoo_keys.sh keys "$SPACE" "$OUT/keys.txt"
  rm -rf "$OUT/logs"
  scripts/lutnas profile-external --keys-file "$OUT/keys.txt" --space "$SPACE" --hardware host-ort \
    --batch 1000 --repeats 3 --command "$KEEP-table $ORT --exclude-boundary-reorders {models}" \
    --parse "$PARSE" --out "$OUT/ort.csv"
fi
start_lutnasd "$OUT"
scripts/lutnas table upload "$OUT/ort.csv" --hardware host-ort
scripts/lutnas validate-external --space "$SPACE" --hardware host-ort --samples 60 --seed 1 \
  --batch 60 --repeats 3 --command "$KEEP-nets $ORT $NET {models}" \
  --parse "$PARSE" --accept-noisy --pairs-out "$OUT/pairs.json" --json > "$OUT/val.json"
# shellcheck disable=SC2086
scripts/lutnas validate-external --arch $ZOO --hardware host-ort \
  --command "$KEEP-zoo $ORT $NET {models}" --parse "$PARSE" --json > "$OUT/zoo.json"
kill $DPID 2>/dev/null || true
/usr/bin/python3 bench/ort_reorders_analyse.py "$OUT"
