#!/usr/bin/env bash
# `make dev`: build, then serve that finished build on http://127.0.0.1:${PORT:-8787}.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
bash scripts/dev-vars.sh .dev.vars
echo "chatgate: http://127.0.0.1:${PORT:-8787}  (state in ${STATE_DIR:-.wrangler/state}; demo model: demo/echo)" >&2
exec bash scripts/serve.sh
