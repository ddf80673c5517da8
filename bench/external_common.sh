# Sourced by bench/external_accuracy.sh and bench/ort_reorders.sh: the commands host-ort's
# and host-openvino's tables and networks are measured with, and a lutnasd of their own.
BIN="${LUTNAS_BUILD_DIR:-build}/bin"
SPACE=search/spaces/edge.json
PARSE='median_ms=([0-9.e+-]+)'
# ONNX Runtime: half the L3 written over before every run, then the input
# rewritten: a block's weights are cold and its input hot, as inside a network
# (docs/notes/runtimes.md, round 4); OpenVINO as in round 3.
ORT="scripts/lutnas bench-onnx --clock thread --flush-kib ${ORT_FLUSH_KIB:-16384} --hot-input"
OV='scripts/lutnas bench-onnx --runtime openvino --quiet --clock thread --flush-kib 2048'
# whole networks: a network takes 0.3-3 ms, so the default 3 ms a round would give it 3 runs
NET="--min-ms 20 --rounds ${NET_ROUNDS:-45}"

# start_lutnasd DIR: a fresh lutnasd on DIR/db.sqlite (killed on exit), $LUTNAS_SERVER set
start_lutnasd() {
  rm -f "$1/db.sqlite"* "$1/port"
  "$BIN/lutnasd" --listen 127.0.0.1:0 --port_file "$1/port" --db "$1/db.sqlite" > "$1/lutnasd.log" 2>&1 &
  DPID=$!
  trap 'kill $DPID 2>/dev/null || true' EXIT
  for _ in $(seq 100); do [ -s "$1/port" ] && break; sleep 0.1; done
  export LUTNAS_SERVER="127.0.0.1:$(sed 's/.*://' "$1/port")"
}
