#!/usr/bin/env bash
# Lints the AWS deployment description: template.yaml (cfn-lint, then sam validate --lint) and
# statemachines/weekly.asl.json (asl-validator and statelint). Installs what it needs on first
# use, into the repository and nowhere else:
#   .venv-lint            cfn-lint and pytest (pytest runs tests/aws, the IAM rules)
#   .venv-sam             aws-sam-cli, in its own venv: it pins an older boto3 than other
#                         tools (moto) want, so the two never share site-packages
#   .tools/node_modules   asl-validator and @wmfs/statelint
# Exact pins (below): a fresh clone installs what the suite was last run with, and a stamp file in
# each directory keeps them until a pin changes.
# Needs python3 (3.9+) and npm. Never talks to AWS: sam validate --lint needs a region but no
# credentials; where the kernel allows it (root or user namespaces), it is run with no network
# at all, so an accidental AWS call fails loudly instead of happening.
# The template is linted as written (Drive, digest and summary off: their parameters default to
# empty) and as variants with them on (.tools/variants/).
# Usage: scripts/lint-aws.sh [--install-only]
# Exits non-zero on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."

install_only=false
if [ "${1:-}" = "--install-only" ]; then install_only=true; fi

step() { printf '\n==> %s\n' "$*"; }

python=${PYTHON:-python3}
command -v "$python" >/dev/null 2>&1 || { echo "python3 is needed (3.9 or newer)" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || { echo "npm is needed (Node 18 or newer)" >&2; exit 1; }

# venv DIR STAMP PACKAGES...: create DIR if missing and install PACKAGES unless the stamp file
# says these exact requirements are already installed.
venv() {
  local dir=$1; shift
  local want="$*"
  if [ ! -x "$dir/bin/python" ]; then
    step "creating $dir"
    "$python" -m venv "$dir"
  fi
  if [ "$(cat "$dir/.requirements" 2>/dev/null)" != "$want" ]; then
    step "installing $want into $dir"
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
    echo "$want" > "$dir/.requirements"
  fi
}

venv .venv-lint 'cfn-lint==1.58.0' 'pytest==8.4.2'
venv .venv-sam 'aws-sam-cli==1.170.0'

asl_want='asl-validator@4.0.0 @wmfs/statelint@1.30.0'
if [ "$(cat .tools/.requirements 2>/dev/null)" != "$asl_want" ] \
  || [ ! -x .tools/node_modules/.bin/asl-validator ] || [ ! -x .tools/node_modules/.bin/statelint ]; then
  step "installing $asl_want into .tools"
  mkdir -p .tools
  # shellcheck disable=SC2086 # the list is meant to split
  npm install --prefix .tools --no-audit --no-fund --loglevel=error $asl_want >/dev/null
  echo "$asl_want" > .tools/.requirements
fi

if $install_only; then exit 0; fi

status=0
run() {
  if "$@"; then :; else
    echo "FAILED: $*" >&2
    status=1
  fi
}

step "cfn-lint template.yaml ses-inbound.yaml ($(.venv-lint/bin/cfn-lint --version))"
run .venv-lint/bin/cfn-lint template.yaml ses-inbound.yaml

step "sam validate --lint ($(.venv-sam/bin/sam --version))"
# No credentials are needed, and any the caller has are kept away from it.
noaws=(env -u AWS_PROFILE -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN
  AWS_DEFAULT_REGION=ap-southeast-1 AWS_REGION=ap-southeast-1 SAM_CLI_TELEMETRY=0
  AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null)
if unshare -n true 2>/dev/null; then
  echo "(no network: run inside unshare -n)"
  run unshare -n "${noaws[@]}" .venv-sam/bin/sam validate --lint --template template.yaml
else
  run "${noaws[@]}" .venv-sam/bin/sam validate --lint --template template.yaml
fi

# The optional parts (Google Drive, digest, summary) are CloudFormation Conditions that are off
# with the defaults linted above. Lint the template again with them on: a copy whose defaults are
# overridden (JSON, in .tools/variants/, next to a link to statemachines/ for sam).
variant() {
  local name=$1; shift
  local dir=.tools/variants/$name
  mkdir -p "$dir"
  ln -sfn ../../../statemachines "$dir/statemachines"
  .venv-lint/bin/python - "$dir/template.json" "$@" <<'PY'
import json, sys
from cfnlint.decode import decode
out, *pairs = sys.argv[1:]
template, matches = decode("template.yaml")
if matches:
    sys.exit(f"template.yaml does not parse: {matches}")
for pair in pairs:
    key, value = pair.split("=", 1)
    template["Parameters"][key]["Default"] = value
with open(out, "w") as f:
    json.dump(template, f, indent=1)
PY
  step "variant $name: cfn-lint and sam validate --lint ($*)"
  run .venv-lint/bin/cfn-lint "$dir/template.json"
  if unshare -n true 2>/dev/null; then
    run env -C "$dir" unshare -n "${noaws[@]}" "$PWD/.venv-sam/bin/sam" validate --lint --template template.json
  else
    run env -C "$dir" "${noaws[@]}" "$PWD/.venv-sam/bin/sam" validate --lint --template template.json
  fi
}
variant everything-on CustomerSheetId=sheet RulesDocId=rules VoiceDocId=voice DigestChannel=#churn \
  SummaryRecipients=boss@example.com OutcomeUrl=https://churn.example.com/ \
  StackAdminRoleArn=arn:aws:iam::123456789012:role/deploy
variant drive-on-digest-off CustomerSheetId=sheet RulesDocId=rules VoiceDocId=voice
variant drive-off-digest-on DigestChannel=C0123ABCDE

step "asl-validator statemachines/weekly.asl.json"
run .tools/node_modules/.bin/asl-validator --json-path statemachines/weekly.asl.json

step "statelint statemachines/weekly.asl.json"
run .tools/node_modules/.bin/statelint statemachines/weekly.asl.json

if [ "$status" -ne 0 ]; then
  step "AWS lint found problems"
  exit 1
fi
step "AWS lint clean"
