#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs, then runs every check.
# Usage: scripts/test.sh
# About ten minutes on two cores from a fresh clone (README, "Running the tests"): clippy's lints
# run inside the one test build, and the Python side (venvs, AWS lint) runs beside it.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> [%d:%02d] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is needed: install Rust from https://rustup.rs (stable, 1.88 or newer)" >&2
  exit 1
fi
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    step "installing the $component component"
    rustup component add "$component"
  fi
done

step "formatting (cargo fmt --check)"
cargo fmt --all -- --check

# The Python side runs in the background while cargo compiles (it is mostly one core and the
# network): moto's venv, which the tests below need, and the whole AWS lint with tests/aws.
logs=$(mktemp -d)
jobs_pids=()
trap 'kill "${jobs_pids[@]}" 2>/dev/null || true; rm -rf "$logs"' EXIT
scripts/moto-venv.sh >"$logs/moto" 2>&1 &
moto_pid=$!
jobs_pids+=("$moto_pid")
(
  # cfn-lint, sam validate --lint (four template variants), asl-validator, statelint.
  scripts/lint-aws.sh
  printf '\n==> AWS deployment: IAM rules and state machine contract (pytest tests/aws)\n'
  .venv-lint/bin/python -m pytest tests/aws -q -p no:cacheprovider
) >"$logs/lint" 2>&1 &
lint_pid=$!
jobs_pids+=("$lint_pid")

# Clippy's lints in the build itself: cargo runs clippy-driver (a rustc with clippy's lints) on
# workspace crates only, so the dependencies are compiled once, for the tests, instead of once
# more for `cargo clippy`. `--all-targets` builds exactly what `cargo clippy --all-targets` checks.
# CLIPPY_ARGS is how `cargo clippy -- -D warnings` hands its flags to clippy-driver.
clippy_driver=$(rustup which clippy-driver 2>/dev/null || command -v clippy-driver)
export RUSTC_WORKSPACE_WRAPPER=$clippy_driver
export CLIPPY_ARGS='-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__'

step "build every target with clippy's lints, warnings are errors (clippy --all-targets -D warnings)"
cargo build --workspace --all-targets --locked

step "moto's server for the AWS tests (.venv-test)"
wait "$moto_pid" || { cat "$logs/moto" >&2; exit 1; }
cat "$logs/moto"

step "tests (unit, property, integration and golden; AWS adapters against moto)"
cargo test --workspace --locked

step "the Monday run's state machine, executed by moto with the real task binaries"
# The build above made the task binaries and `churn` (same features as the tests: no rebuild).
for bin in churn-scorer churn-handoff churn-record churn; do
  [ -x "target/debug/$bin" ] || { echo "target/debug/$bin was not built" >&2; exit 1; }
done
# Each test has its own moto, fakes and temporary directory: two at a time (pytest-xdist).
.venv-test/bin/python -m pytest tests/sfn -q -p no:cacheprovider -n 2

step "AWS deployment: cfn-lint, sam validate --lint, ASL validators, tests/aws (ran beside the build)"
lint_status=0
wait "$lint_pid" || lint_status=$?
cat "$logs/lint"
[ "$lint_status" -eq 0 ] || { echo "AWS lint or tests/aws failed" >&2; exit 1; }

step "all checks passed in $((SECONDS / 60)) min $((SECONDS % 60)) s"
