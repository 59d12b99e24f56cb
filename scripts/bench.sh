#!/usr/bin/env bash
# Benchmarks of the Monday run on a 1,000,000-row list (release build). Prints wall time and peak
# memory of each command, best of N interleaved runs, and the ratio to the csv floor (reading
# every field of the same file with the csv crate alone), which is what travels between machines.
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

# run NAME CMD...: one run; keeps NAME's fastest wall time (s, from the clock in ns: `time`'s own
# 10 ms steps are 7% of the floor) and the peak RSS (MB) of that run.
run() {
  local name=$1; shift
  local t0 t1 t m
  t0=$(date +%s%N)
  /usr/bin/time -o /tmp/churn-bench-time -f "%M" "$@" >/dev/null 2>/dev/null
  t1=$(date +%s%N)
  t=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", (b - a) / 1e9}')
  m=$(tail -n 1 /tmp/churn-bench-time)
  local best
  best=$(cat "/tmp/churn-bench-$name" 2>/dev/null || true)
  if [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; then
    echo "$t" > "/tmp/churn-bench-$name"
    echo "$((m / 1024))" > "/tmp/churn-bench-$name.mem"
  fi
}

names=(csv-floor weekly-dry-run score-json)
for n in "${names[@]}"; do rm -f "/tmp/churn-bench-$n" "/tmp/churn-bench-$n.mem"; done
# Rounds interleave the commands, so a burst of load elsewhere hits all of them alike.
for _ in $(seq "$runs"); do
  run csv-floor target/release/examples/read_list "$data/customers.csv" --floor-only
  run weekly-dry-run "$churn" weekly --data "$data" --as-of 2026-11-23 --dry-run --json
  run score-json "$churn" score --customers "$data/customers.csv" --rules "$data/rules.txt" --as-of 2026-11-23 --data "$data" --json
done
for n in "${names[@]}"; do
  printf '%-34s %6.2f s  %6.0f MB\n' "$n" "$(cat "/tmp/churn-bench-$n")" "$(cat "/tmp/churn-bench-$n.mem")"
done
floor=$(cat /tmp/churn-bench-csv-floor)
for n in weekly-dry-run score-json; do
  awk -v t="$(cat /tmp/churn-bench-$n)" -v f="$floor" -v n="$n" 'BEGIN{printf "%-34s %6.1f× the csv floor\n", n, t / f}'
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
