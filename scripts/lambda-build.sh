#!/usr/bin/env bash
# Builds every Lambda function for arm64 (provided.al2023) in one cargo invocation with
# cargo-lambda, which cross-links with zig; both come from PyPI into .venv-build, so nothing but
# Python and rustup is needed.
# Output: target/lambda/<function>/bootstrap (or bootstrap.zip with --output-format zip).
# Usage: scripts/lambda-build.sh [extra cargo-lambda flags]
# `sam build` then only copies: it runs `cargo lambda build --release --arm64 --bin <function>` per
# function (BuildMethod rust-cargolambda), which resolves features exactly as the `--bin` list
# below does, so it finds everything built. Run it as `PATH="$PWD/.venv-build/bin:$PATH" sam build`.
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

# Every binary of churn-lambda, as `--bin` flags. Not `-p churn-lambda`: sam build selects no
# package, and a different package selection would unify features differently and rebuild the SDK.
bins=()
for bin in $(cargo metadata --format-version 1 --no-deps | python3 -c '
import json, sys
for p in json.load(sys.stdin)["packages"]:
    if p["name"] == "churn-lambda":
        print("\n".join(t["name"] for t in p["targets"] if "bin" in t["kind"]))'); do
  bins+=(--bin "$bin")
done
PATH="$PWD/$VENV/bin:$PATH" cargo lambda build --release --arm64 "${bins[@]}" "$@"
