#!/usr/bin/env bash
# Build the Weaviate server from its Go module once, cached outside the repo.
set -euo pipefail
cache="${RATCHET_CACHE:-$HOME/.cache/ratchet}"
tag="${RATCHET_WEAVIATE_VERSION:-v1.35.2}"
bin_dir="$cache/weaviate/$tag"
if [ -x "$bin_dir/weaviate-server" ]; then
  exit 0
fi
command -v go >/dev/null 2>&1 || { echo "weaviate: Go toolchain not found (install golang)" >&2; exit 1; }
mkdir -p "$bin_dir"
printf '\033[1;34m[install]\033[0m building weaviate-server %s from its Go module (a few minutes)\n' "$tag"
GOBIN="$bin_dir" GOFLAGS="-trimpath" GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build" \
  go install "github.com/weaviate/weaviate/cmd/weaviate-server@$tag"
test -x "$bin_dir/weaviate-server"
