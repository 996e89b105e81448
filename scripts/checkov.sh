#!/usr/bin/env bash
# checkov in its own virtualenv (.venv-checkov): its pins (boto3 1.35, packaging 23.2,
# networkx 2.6, ...) would downgrade packages of the shared .venv, so it never goes there.
#   scripts/checkov.sh --install        create/refresh .venv-checkov only
#   scripts/checkov.sh ARGS...          run checkov ARGS (installing first when needed)
# Idempotent: a stamp of the pinned version skips the install.
set -euo pipefail
cd "$(dirname "$0")/.."

CHECKOV_VERSION=3.3.30
PYTHON="${PYTHON:-python3}"
VENV=.venv-checkov
STAMP="$VENV/.installed"

if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$CHECKOV_VERSION" ]; then
  echo "checkov: creating $VENV with checkov==$CHECKOV_VERSION" >&2
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --upgrade pip
  "$VENV/bin/pip" install --quiet "checkov==$CHECKOV_VERSION"
  echo "$CHECKOV_VERSION" > "$STAMP"
fi

if [ "${1:-}" = "--install" ]; then
  exit 0
fi
exec "$VENV/bin/checkov" "$@"
