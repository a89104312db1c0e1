#!/usr/bin/env bash
# The Action's first step (action.yml): check the inputs before anything is installed, and say what to install.
# Reads ENDPOINT, MODEL, MLFLOW_URI, MIN_SEVERITY, FAIL_ON, TIMEOUT, REVIEW_DRAFTS, PYTHON_VERSION; writes to
# $GITHUB_OUTPUT:
#   install=reviewer|model   fetch=true|false   min-severity=...   fail-on=...   (severities lower-cased)
# Every problem is reported (as a workflow ::error), then the step fails.
set -uo pipefail
problems=0
fail() { echo "::error title=review-slm input::$1"; problems=$((problems + 1)); }
lower() { printf '%s' "$1" | tr '[:upper:]' '[:lower:]'; }

if [[ -z "$ENDPOINT" && -z "$MODEL" ]]; then
  fail "give \`endpoint\` (the served champion's OpenAI-compatible URL) or \`model\` (a folder, models:/NAME@ALIAS or s3://...)"
elif [[ -n "$ENDPOINT" && -n "$MODEL" ]]; then
  fail "give \`endpoint\` or \`model\`, not both (endpoint=$ENDPOINT, model=$MODEL)"
fi
if [[ -n "$ENDPOINT" && ! "$ENDPOINT" =~ ^https?://[^[:space:]]+$ ]]; then
  fail "endpoint=$ENDPOINT: expected an http:// or https:// URL"
fi
fetch=false
if [[ "$MODEL" == models:/* ]]; then
  fetch=true
  [[ -n "$MLFLOW_URI" ]] || fail "model=$MODEL is in the MLflow registry: set \`mlflow-tracking-uri\`"
  [[ "$MODEL" =~ ^models:/[^/@]+(@[^/@]+|/[0-9]+)$ ]] || fail "model=$MODEL: expected models:/NAME@ALIAS or models:/NAME/VERSION"
elif [[ "$MODEL" == s3://* ]]; then
  fetch=true
  [[ "$MODEL" =~ ^s3://[^/]+/.+ ]] || fail "model=$MODEL: expected s3://bucket/prefix"
elif [[ "$MODEL" == *://* ]]; then
  fail "model=$MODEL: a model is a folder on the runner, models:/NAME@ALIAS or s3://bucket/prefix"
fi
min_severity=$(lower "$MIN_SEVERITY")
[[ "$min_severity" =~ ^(critical|high|medium|low|info)$ ]] ||
  fail "min-severity=$MIN_SEVERITY: expected one of critical, high, medium, low, info"
fail_on=$(lower "$FAIL_ON")
[[ -z "$fail_on" || "$fail_on" =~ ^(critical|high|medium|low)$ ]] ||
  fail "fail-on=$FAIL_ON: expected one of critical, high, medium, low (or empty: never fail on findings)"
[[ "$TIMEOUT" =~ ^[0-9]+(\.[0-9]+)?$ && ! "$TIMEOUT" =~ ^0+(\.0+)?$ ]] ||
  fail "timeout=$TIMEOUT: expected a number of seconds above 0"
[[ "$REVIEW_DRAFTS" =~ ^(true|false)$ ]] || fail "review-drafts=$REVIEW_DRAFTS: expected true or false"
# The Pythons the project (and requirements.lock) is resolved for: pyproject's `requires-python = ">=3.A,<3.B"`.
# Without this check pip refuses another version only after setup-python, or installs unpinned versions.
requires=$(sed -n 's/^requires-python = "\(.*\)"$/\1/p' "$(dirname "$0")/../../pyproject.toml")
if [[ "$requires" =~ ^\>=3\.([0-9]+),\<3\.([0-9]+)$ ]]; then
  lowest=${BASH_REMATCH[1]} beyond=${BASH_REMATCH[2]}
  if [[ ! "$PYTHON_VERSION" =~ ^3\.([0-9]+)(\.[0-9]+)?$ ]] ||
    ((BASH_REMATCH[1] < lowest || BASH_REMATCH[1] >= beyond)); then
    fail "python-version=$PYTHON_VERSION: review-slm supports Python $requires (3.$lowest to 3.$((beyond - 1)), as 3.N or 3.N.P)"
  fi
else
  fail "pyproject.toml's requires-python ($requires) is not of the form >=3.A,<3.B: update check_inputs.sh"
fi
if ((problems)); then
  exit 1
fi
{
  echo "install=$([[ -n "$ENDPOINT" ]] && echo reviewer || echo model)"
  echo "fetch=$fetch"
  echo "min-severity=$min_severity"
  echo "fail-on=$fail_on"
} >> "$GITHUB_OUTPUT"
