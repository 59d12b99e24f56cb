#!/usr/bin/env bash
# Builds every Lambda function for arm64 (provided.al2023) with cargo-lambda, which cross-links with
# zig; both come from PyPI into .venv-build, so nothing but Python and rustup is needed.
# Output: target/lambda/<function>/bootstrap (or bootstrap.zip with --output-format zip).
# Usage: scripts/lambda-build.sh [extra cargo-lambda flags]
# `sam build` uses the same tool: run it as `PATH="$PWD/.venv-build/bin:$PATH" sam build`.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly VENV=.venv-build
readonly CARGO_LAMBDA_SPEC='cargo-lambda==1.9.2'
readonly ZIG_SPEC='ziglang==0.17.1'

if [[ ! -x "$VENV/bin/cargo-lambda" || ! -x "$VENV/bin/python-zig" ]]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "$CARGO_LAMBDA_SPEC" "$ZIG_SPEC"
fi
rustup target add aarch64-unknown-linux-gnu >/dev/null
PATH="$PWD/$VENV/bin:$PATH" cargo lambda build --release --arm64 -p churn-lambda "$@"
