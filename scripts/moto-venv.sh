#!/usr/bin/env bash
# Creates .venv-test with moto's server (and pytest), which the AWS adapter tests (tasks/churn-aws)
# and the state machine tests (tests/sfn) run against.
# Idempotent: an existing venv with the pinned moto is left as it is.
# Usage: scripts/moto-venv.sh
set -euo pipefail
cd "$(dirname "$0")/.."

readonly VENV=.venv-test
readonly MOTO_SPEC='moto[server]>=5.1,<6'
readonly PYTEST_SPEC='pytest>=8,<9'

if ! command -v python3 >/dev/null 2>&1; then
  echo "python3 is needed for the AWS adapter tests (moto server)" >&2
  exit 1
fi

if [[ -x "$VENV/bin/moto_server" && -x "$VENV/bin/pytest" ]] && "$VENV/bin/python" - <<'PY' 2>/dev/null
import importlib.metadata as m, sys
v = tuple(int(x) for x in m.version("moto").split(".")[:2])
sys.exit(0 if (5, 1) <= v < (6, 0) else 1)
PY
then
  echo "$VENV: moto $("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("moto"))') is ready"
  exit 0
fi

if [[ ! -x "$VENV/bin/python" ]]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$MOTO_SPEC" "$PYTEST_SPEC"
echo "$VENV: moto $("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("moto"))') installed"
