#!/usr/bin/env bash
# Benchmarks of the Monday run on a 1,000,000-row list (release build). Prints wall time and peak
# memory of each command, best of N runs, and the ratio to the csv floor (reading every field of
# the same file with the csv crate alone), which is what travels between machines.
# Usage: scripts/bench.sh [RUNS]   (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
data=bench-data/m1
cargo build --release -p churn-cli >/dev/null
cargo build --release -p churn-core --example read_list >/dev/null
churn=target/release/churn
if [ ! -f "$data/customers.csv" ]; then
  "$churn" demo-data --customers 1000000 --owners 40 --seed 1 --out "$data" >/dev/null
fi
size=$(stat -c %s "$data/customers.csv")
echo "list: $data/customers.csv, $((size / 1000000)) MB, $(nproc) cores"

# best_of NAME CMD...: the fastest wall time (s) and the peak RSS (MB) of that run.
best_of() {
  local name=$1; shift
  local best="" mem=""
  for _ in $(seq "$runs"); do
    local out
    /usr/bin/time -o /tmp/churn-bench-time -f "%e %M" "$@" >/dev/null 2>/dev/null
    out=$(tail -n 1 /tmp/churn-bench-time)
    local t=${out% *} m=${out#* }
    if [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; then best=$t; mem=$m; fi
  done
  printf '%-34s %6.2f s  %6.0f MB\n' "$name" "$best" "$((mem / 1024))"
  echo "$best"> "/tmp/churn-bench-$name"
}

best_of csv-floor target/release/examples/read_list "$data/customers.csv" --floor-only
best_of weekly-dry-run "$churn" weekly --data "$data" --as-of 2026-11-23 --dry-run --json
best_of score-json "$churn" score --customers "$data/customers.csv" --rules "$data/rules.txt" --as-of 2026-11-23 --data "$data" --json
floor=$(cat /tmp/churn-bench-csv-floor)
for n in weekly-dry-run score-json; do
  awk -v t="$(cat /tmp/churn-bench-$n)" -v f="$floor" -v n="$n" 'BEGIN{printf "%-34s %6.1f× the csv floor\n", n, t / f}'
done
