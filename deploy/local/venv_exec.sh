#!/usr/bin/env bash
# Run a command inside Ratchet's venv (created by install.sh) with offline model loading.
set -euo pipefail
cache="${RATCHET_CACHE:-$HOME/.cache/ratchet}"
venv="${RATCHET_VENV:-$cache/venv}"
export PATH="$venv/bin:$PATH"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 NEMO_GUARDRAILS_NO_USAGE_STATS=1
export TOKENIZERS_PARALLELISM=false
exec "$@"
