#!/usr/bin/env bash
# GPU check: run generate, reward, dpo, ppo and grpo on a randomly initialised ~0.5B Llama-shaped
# model on one GPU; print samples/s, tokens/s and peak GPU memory per kind.
#
#   bash bench/gpu_check.sh [--steps 20] [--keep DIR]
#
# Needs a CUDA GPU (refuses with exit code 2 otherwise) and nothing from the network: the model
# is built here from a random init, with the tiny policy's tokenizer (ids past it decode to nothing).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
if [ ! -x "$PYTHON" ]; then PYTHON="$(command -v python3)"; fi
if ! "$PYTHON" -c 'import torch' 2>/dev/null; then
    echo "gpu_check: $PYTHON cannot import torch; set PYTHON to the project's interpreter" >&2
    exit 2
fi
if ! "$PYTHON" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "gpu_check: no CUDA GPU visible to torch on this machine; nothing was run" >&2
    exit 2
fi
export HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 TOKENIZERS_PARALLELISM=false
exec "$PYTHON" bench/gpu_check.py "$@"
