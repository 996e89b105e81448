#!/usr/bin/env bash
# The test command (README, CI): set up .venv, lint, type-check, run every test.
# Needs no GPU, no cloud and no Pulumi CLI; the end-to-end tests start a real vLLM CPU engine.
set -euo pipefail
cd "$(dirname "$0")/.."
export VENV="${VENV:-.venv}"   # scripts/setup.sh reads it too
bash scripts/setup.sh
# checkov lives in its own venv (its pins clash with .venv); tests/security/test_checkov.py uses it.
bash scripts/checkov.sh --install
# A real Prometheus and promtool (Debian's package) for tests/observability.
bash scripts/install-prometheus.sh
PY="$VENV/bin/python"

echo "== ruff"
"$PY" -m ruff check .
echo "== mypy"
"$PY" -m mypy infra components smoke
echo "== pytest"
"$PY" -m pytest "$@"
