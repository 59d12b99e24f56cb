#!/usr/bin/env bash
# Benchmarks of the Lambda functions (release builds):
#   1. init: process start to the first Runtime API poll, every function, against a local
#      Runtime API (tasks/churn-lambda/examples/init_bench.rs), median of N starts;
#   2. handoff of 10 names with the Bedrock-like server answering in 400 ms
#      (tests/sfn/bench_handoff.py: moto + the local Slack and Bedrock servers);
#   3. the arm64 bootstrap.zip of every function (`cargo lambda build --release --arm64 --output-format zip`).
# Usage: scripts/bench-lambda.sh [RUNS]   (default 20; step 3 is skipped with NO_ARM64=1)
# Honours CARGO_TARGET_DIR (a separate one keeps the long release builds off target/'s lock).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
tdir=${CARGO_TARGET_DIR:-target}

cargo build --release -p churn-lambda --bins --example init_bench >/dev/null
bins=()
for b in $(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json,sys; print(" ".join(t["name"] for p in json.load(sys.stdin)["packages"] if p["name"]=="churn-lambda" for t in p["targets"] if "bin" in t["kind"]))'); do
  bins+=("$tdir/release/$b")
done
echo "== init (process start -> first Runtime API poll), $runs starts each, $(nproc) cores"
"$tdir/release/examples/init_bench" --runs "$runs" "${bins[@]}"

echo "== handoff: 10 names, Bedrock-like server at 400 ms per reply"
scripts/moto-venv.sh >/dev/null
CHURN_TASK_BIN_DIR="$tdir/release" .venv-test/bin/python tests/sfn/bench_handoff.py

if [ "${NO_ARM64:-}" != 1 ]; then
  echo "== arm64 bootstrap.zip sizes (cargo lambda build --release --arm64)"
  scripts/lambda-build.sh --output-format zip >/dev/null
  for z in "$tdir"/lambda/*/bootstrap.zip; do
    awk -v n="$(basename "$(dirname "$z")")" -v b="$(stat -c %s "$z")" \
      'BEGIN{printf "%-28s %6.2f MB (%.2f MiB)\n", n, b / 1e6, b / 1048576}'
  done
fi
