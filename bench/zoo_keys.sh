#!/usr/bin/env bash
# The models/ networks at 224 px, and a keys file of a space's keys followed by
# those networks' other keys (each once, in order), for tables that must cover both.
#   bench/zoo_keys.sh zoo                       # prints the zoo's model files, one per line
#   bench/zoo_keys.sh keys SPACE.json OUT.txt   # writes the keys file
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${LUTNAS_BUILD_DIR:-build}/bin"
zoo() {
  for f in models/*.json; do
    "$BIN/lutnas-inspect" "$f" --json | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(d["resolution"] != 224)' && echo "$f"
  done || true
}
case "${1:-}" in
  zoo) zoo ;;
  keys)
    "$BIN/lutnas-inspect" --space "$2" --keys > "$3"
    for f in $(zoo); do "$BIN/lutnas-inspect" "$f" --json; done | /usr/bin/python3 -c '
import json, sys
seen = set(open(sys.argv[1]).read().split())
dec, text, keys = json.JSONDecoder(), sys.stdin.read(), []
i = 0
while i < len(text):
    if text[i].isspace():
        i += 1
        continue
    d, i = dec.raw_decode(text, i)
    for b in d["blocks"]:
        if b["key"] not in seen:
            seen.add(b["key"])
            keys.append(b["key"])
print("\n".join(keys))' "$3" >> "$3" ;;
  *) echo "usage: bench/zoo_keys.sh zoo | keys SPACE.json OUT.txt" >&2; exit 2 ;;
esac
