#!/usr/bin/env bash
# Set up everything the tests need and run the whole suite (real vLLM, Weaviate, PostgreSQL, Chromium).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/../.."
INSTALL_TEST_EXTRAS=1 bash "$here/install.sh"
if [ -f "$here/install_test_tools.sh" ]; then bash "$here/install_test_tools.sh"; fi
x() { bash "$here/venv_exec.sh" "$@"; }
x ratchet model prepare
set +e
x python -m pytest tests -q -p no:cacheprovider --durations=15 "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "test: pytest collected no tests — that is a failure" >&2
  exit 1
fi
exit "$rc"
