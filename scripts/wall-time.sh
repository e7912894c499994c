#!/usr/bin/env bash
# Whole-process wall time of a command: the median of N runs, in milliseconds.
#   scripts/wall-time.sh 31 target/release/phi-emu model.phibin --input examples/digits_mlp/test.npy
# Used for the whole-process rows of docs/benchmarks.md (stdout and stderr are discarded).
set -euo pipefail
n=$1
shift
for _ in $(seq "$n"); do
  start=$(date +%s%N)
  "$@" >/dev/null 2>&1
  end=$(date +%s%N)
  echo $(((end - start) / 1000))
done | sort -n | awk '{t[NR] = $1} END {printf "%.2f ms (median of %d runs)\n", t[int((NR + 1) / 2)] / 1000, NR}'
