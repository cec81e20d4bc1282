#!/usr/bin/env bash
# Train the runs behind "Prediction intervals" in RESULTS.md: the default model on 5 folds of
# each split kind (seed 0), resumable (a run with predictions_test.parquet is kept), then score
# them with bench_intervals.py. Usage:
#   benchmarks/coverage_runs.sh OUT_ROOT DEVICE JOBS SPLIT... [-- EXTRA drp train ARGS]
# e.g. benchmarks/coverage_runs.sh runs/cov cpu 1 drug_blind cluster_blind mixed cell_blind
# JOBS runs train side by side (a GPU: several processes share the card; a 2-core CPU: 1).
set -uo pipefail
root=$1; device=$2; jobs=$3; shift 3
splits=(); while [ $# -gt 0 ] && [ "$1" != "--" ]; do splits+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
extra=("$@")
drp=${DRP:-drp}
mkdir -p "$root"
for split in "${splits[@]}"; do for fold in 0 1 2 3 4; do
  out=$root/${split}_f$fold
  [ -f "$out/predictions_test.parquet" ] && continue
  echo "$split $fold"
done; done | xargs -P "$jobs" -L 1 bash -c '
  out='"$root"'/$0_f$1; rm -rf "$out"
  '"$drp"' train --dataset gdsc2 --split $0 --fold $1 --seed 0 --device '"$device"' --out "$out" '"${extra[*]}"' > "$out.log" 2>&1
  echo "$0 $1 rc=$? $(date +%T)"'
