#!/usr/bin/env bash
# The test command (README, CI): set up .venv, lint, type-check, run every test.
# Needs no GPU, no cloud and no Pulumi CLI; the end-to-end tests start a real vLLM CPU engine.
set -euo pipefail
cd "$(dirname "$0")/.."
export VENV="${VENV:-.venv}"   # scripts/setup.sh reads it too
bash scripts/setup.sh
PY="$VENV/bin/python"

echo "== ruff"
"$PY" -m ruff check .
echo "== mypy"
"$PY" -m mypy infra components smoke
echo "== pytest"
"$PY" -m pytest "$@"
