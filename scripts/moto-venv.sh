#!/usr/bin/env bash
# Creates .venv-test with moto's server, pytest and pytest-xdist, which the AWS adapter tests
# (tasks/churn-aws) and the state machine tests (tests/sfn) run against.
# Idempotent: a venv whose stamp (.venv-test/.requirements) names these exact pins is left as it is;
# change a pin here and the next run installs it.
# Usage: scripts/moto-venv.sh
set -euo pipefail
cd "$(dirname "$0")/.."

readonly VENV=.venv-test
# Exact pins: a fresh clone installs what the suite was last run with (no resolver surprises).
readonly SPECS=('moto[server]==5.2.6' 'pytest==8.4.2' 'pytest-xdist==3.8.0')

if ! command -v python3 >/dev/null 2>&1; then
  echo "python3 is needed for the AWS adapter tests (moto server)" >&2
  exit 1
fi

if [[ -x "$VENV/bin/moto_server" && "$(cat "$VENV/.requirements" 2>/dev/null)" == "${SPECS[*]}" ]]; then
  echo "$VENV: ${SPECS[*]} ready"
  exit 0
fi

if [[ ! -x "$VENV/bin/python" ]]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${SPECS[@]}"
echo "${SPECS[*]}" >"$VENV/.requirements"
echo "$VENV: ${SPECS[*]} installed"
