#!/usr/bin/env bash
# Test tools for the admin page and deploy/ tests (idempotent; a second run changes nothing):
#   - Debian's chromium (the admin page is driven by Playwright through its executable; never `playwright install`)
#   - kubectl for `kubectl kustomize` (else a Go-built kustomize in ~/.cache/ratchet/bin)
#   - kubernetes-validate and check-jsonschema in the venv (offline Kubernetes / compose-spec schemas)
set -euo pipefail
VENV="${RATCHET_VENV:-$HOME/.cache/ratchet/venv}"
BIN="$HOME/.cache/ratchet/bin"
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

if ! command -v chromium >/dev/null 2>&1; then
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium
fi

if ! command -v kubectl >/dev/null 2>&1 && ! [ -x "$BIN/kustomize" ]; then
  mkdir -p "$BIN"
  GOBIN="$BIN" go install sigs.k8s.io/kustomize/kustomize/v5@v5.5.0
fi

"$VENV/bin/python" -m pip install -q "kubernetes-validate>=1.30" "check-jsonschema>=0.29"
echo "test tools ready (chromium, $(command -v kubectl || echo "$BIN/kustomize"), kubernetes-validate, check-jsonschema)"
