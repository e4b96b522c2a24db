#!/usr/bin/env bash
# Apply Ratchet's small vLLM CPU patches (deploy/local/patches/*.patch) to an installed vLLM, idempotently.
#   vllm_patches.sh SITE_PACKAGES_DIR
# A patch already applied is left alone; one that applies neither way (another vLLM version) stops the
# install with a message, so a changed vLLM is never run with a half-applied fix.
#
# vllm-cpu-lora-base-rows.patch — vLLM CPU's torch LoRA ops index the stacked adapter weights with a
# token's adapter slot; base-model tokens have slot -1, which picked the LAST adapter, so base requests
# batched with adapter requests got that adapter's delta. The patch gives -1 tokens no delta and never
# copies an adapter's matrices per token: a small batch (decode) multiplies by all adapters at once and
# picks each token's product, a large one (prefill) multiplies each adapter's tokens together.
# Upstream: vllm-project/vllm pull request 48421 fixes the same bug (not merged in 0.32.0).
set -euo pipefail

site="${1:?usage: vllm_patches.sh SITE_PACKAGES_DIR}"
if ! command -v patch >/dev/null 2>&1; then  # a minimal image may lack it; Debian ships it
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends patch >/dev/null
fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

for p in "$here"/patches/*.patch; do
  name="$(basename "$p")"
  if patch -d "$site" -p1 -F0 -R --dry-run -s -f <"$p" >/dev/null 2>&1; then
    echo "vllm patch $name: already applied"
  elif patch -d "$site" -p1 -F0 --dry-run -s -f <"$p" >/dev/null 2>&1; then
    patch -d "$site" -p1 -F0 -s -f --no-backup-if-mismatch <"$p"
    echo "vllm patch $name: applied"
  else
    echo "vllm patch $name: does not apply to the vLLM in $site (another version?)" >&2
    exit 1
  fi
done
