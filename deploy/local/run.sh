#!/usr/bin/env bash
# Set up and run Ratchet on one machine with local embedded defaults.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/../.."
bash "$here/install.sh"
x() { bash "$here/venv_exec.sh" "$@"; }
x ratchet model prepare
x ratchet up
x ratchet ingest docs/knowledge --prune
if [ -n "${SLACK_BOT_TOKEN:-}" ] && { [ -n "${SLACK_APP_TOKEN:-}" ] || [ -n "${SLACK_SIGNING_SECRET:-}" ]; }; then
  export RATCHET_BOT__SLACK_BOT_TOKEN="${RATCHET_BOT__SLACK_BOT_TOKEN:-$SLACK_BOT_TOKEN}"
  export RATCHET_BOT__SLACK_APP_TOKEN="${RATCHET_BOT__SLACK_APP_TOKEN:-${SLACK_APP_TOKEN:-}}"
  export RATCHET_BOT__SLACK_SIGNING_SECRET="${RATCHET_BOT__SLACK_SIGNING_SECRET:-${SLACK_SIGNING_SECRET:-}}"
  exec bash "$here/venv_exec.sh" ratchet bot
fi
echo "No Slack tokens set: opening the local chat (type a question; + / - rates the last answer; Ctrl-D quits)."
exec bash "$here/venv_exec.sh" ratchet chat
