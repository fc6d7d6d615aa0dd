#!/usr/bin/env bash
# Serves one floor Worker (bench/floor/<shape>/) under `wrangler dev` with scripts/serve.sh's
# settings: the same wrangler and workerd (node_modules), DevTools proxy off, metrics off, local
# state in a fresh STATE_DIR, a free inspector port.
#   bash bench/floor/serve.sh a|b|c|d|e
#   PORT       port on 127.0.0.1 (default 8790)
#   STATE_DIR  where the local Durable Object state lives (default bench/.work/floor-<shape>)
#   UPSTREAM   the mock upstream's origin, e.g. http://127.0.0.1:4010
#   UPSTREAM_KEY  the key floor C sends it (A and B pass the client's Authorization on)
set -euo pipefail
cd "$(dirname "$0")/../.."
shape="${1:?usage: bench/floor/serve.sh a|b|c|d|e}"
case "$shape" in a|b|c|d|e) ;; *) echo "unknown floor $shape" >&2; exit 2 ;; esac
PORT="${PORT:-8790}"
STATE_DIR="${STATE_DIR:-bench/.work/floor-$shape}"
: "${UPSTREAM:?UPSTREAM must name the mock upstream}"
mkdir -p "$STATE_DIR"
STATE_DIR="$(cd "$STATE_DIR" && pwd)"
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false
export WRANGLER_LOG_PATH="$STATE_DIR/logs"
# As scripts/serve.sh with DEVTOOLS=off: no DevTools proxy relaying every chunk to node.
export VSCODE_INSPECTOR_OPTIONS='{}'
INSPECTOR_PORT="${INSPECTOR_PORT:-$(node -e 'const s = require("net").createServer();
  s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });')}"
exec npx --no-install wrangler dev --config "bench/floor/$shape/wrangler.toml" --ip 127.0.0.1 \
  --port "$PORT" --inspector-port "$INSPECTOR_PORT" --persist-to "$STATE_DIR" \
  --var "UPSTREAM:$UPSTREAM" --var "UPSTREAM_KEY:${UPSTREAM_KEY:-}" --show-interactive-dev-session=false
