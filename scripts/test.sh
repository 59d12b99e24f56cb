#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs, then runs every check.
# Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

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

step "lints (cargo clippy, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "moto's server for the AWS tests (installs into .venv-test on first use)"
scripts/moto-venv.sh

step "tests (unit, property, integration and golden; AWS adapters against moto)"
cargo test --workspace --locked

step "the Monday run's state machine, executed by moto with the real task binaries"
# `cargo test` above built the task binaries and `churn` (their integration tests need them); a
# separate `cargo build` would resolve features differently and compile the SDK again.
for bin in churn-scorer churn-handoff churn-record churn; do
  [ -x "target/debug/$bin" ] || { echo "target/debug/$bin was not built by cargo test" >&2; exit 1; }
done
.venv-test/bin/python -m pytest tests/sfn -q -p no:cacheprovider

step "AWS deployment: cfn-lint, sam validate --lint, ASL validators (installs them on first use)"
scripts/lint-aws.sh

step "AWS deployment: IAM rules and state machine contract (pytest)"
.venv-lint/bin/python -m pytest tests/aws -q -p no:cacheprovider

step "all checks passed in $((SECONDS / 60)) min $((SECONDS % 60)) s"
