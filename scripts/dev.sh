#!/usr/bin/env bash
# `make dev`: build, then serve that finished build on http://127.0.0.1:${PORT:-8787}.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
bash scripts/dev-vars.sh "${VARS_FILE:-.dev.vars}"
# Webhooks to receivers on this machine (plain http, loopback), as a local setup needs, unless
# the environment or the vars file says which hosts (an empty value allows none).
if [ -z "${WEBHOOK_ALLOW_INSECURE_HOSTS+set}" ] \
    && ! grep -q '^WEBHOOK_ALLOW_INSECURE_HOSTS=' "${VARS_FILE:-.dev.vars}"; then
  export WEBHOOK_ALLOW_INSECURE_HOSTS='localhost,127.0.0.1,[::1]'
fi
# The dev mailbox (mail kept locally, read at /dev/mailbox) unless told otherwise.
if [ -z "${DEV_MAILBOX+set}" ] && ! grep -q '^DEV_MAILBOX=' "${VARS_FILE:-.dev.vars}"; then
  export DEV_MAILBOX=on
fi
echo "chatgate: http://127.0.0.1:${PORT:-8787}  (state in ${STATE_DIR:-.wrangler/state}; demo model: demo/echo; mail: /dev/mailbox)" >&2
echo "          passkeys in a browser: http://localhost:${PORT:-8787} (browsers refuse WebAuthn at an IP address)" >&2
exec bash scripts/serve.sh
