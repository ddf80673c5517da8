#!/usr/bin/env bash
# Runs a tool and keeps its stdout in DIR (one file per invocation, in order), for
# benchmarks that rebuild several variants from one measurement:
#   bench/tee_stdout.sh DIR TOOL ARGS...
d=$1; shift
mkdir -p "$d"
"$@" | tee "$d/$(date +%s%N).txt"
exit "${PIPESTATUS[0]}"
