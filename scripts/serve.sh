#!/usr/bin/env bash
# Serves the already-built Worker under `wrangler dev` (local D1, KV and Durable Objects).
#   PORT       port on 127.0.0.1 (default 8787)
#   STATE_DIR  where local D1/KV/DO state lives (default .wrangler/state)
#   VARS_FILE  secrets file (default .dev.vars, created by scripts/dev-vars.sh)
#   INSPECTOR_PORT  the runtime's inspector port (default: a free one)
#   DEVTOOLS   "off" turns wrangler's DevTools proxy off: it subscribes to the runtime's
#              network events and relays every streamed chunk to node, which costs more CPU
#              than the Worker itself under load (the benchmark serves with it off)
# Provider/LiveKit/limit/webhook/sign-in (GOOGLE_*, GITHUB_*, MICROSOFT_*, OIDC_*) variables and
# ADMIN_EMAILS set in the environment override the vars file.
# wrangler's scheduled-test route is on: `GET /__scheduled?cron=...` runs the scheduled handler
# (the upkeep of src/upkeep.rs) as the Cron Trigger would.
# CF-Connecting-IP is not trusted (TRUST_CF_CONNECTING_IP=false) unless the vars file or the
# environment says otherwise. Passkeys' relying party is `localhost` at http://localhost:PORT
# and http://127.0.0.1:PORT (WEBAUTHN_RP_ID, WEBAUTHN_ORIGINS) unless they say otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${PORT:-8787}"
STATE_DIR="${STATE_DIR:-.wrangler/state}"
VARS_FILE="${VARS_FILE:-.dev.vars}"
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false
export WRANGLER_LOG_PATH="${WRANGLER_LOG_PATH:-$STATE_DIR/logs}"
# wrangler 4 has no flag for it; it leaves the DevTools proxy out inside a VS Code debug
# terminal, which it recognises by this variable.
if [ "${DEVTOOLS:-on}" = off ]; then export VSCODE_INSPECTOR_OPTIONS='{}'; fi

[ -f build/index.js ] || { echo "no build: run scripts/build.sh first" >&2; exit 1; }
[ -f "$VARS_FILE" ] || bash scripts/dev-vars.sh "$VARS_FILE"
mkdir -p "$STATE_DIR"
# Absolute from here on: wrangler resolves --env-file against the config's directory, which
# is inside STATE_DIR, so a relative path (the default) would point nowhere.
STATE_DIR="$(cd "$STATE_DIR" && pwd)"

# One env file for wrangler: this script's defaults, the secrets, then overrides from this
# environment (later lines win). It holds the secrets, so only its owner may read it: written
# under umask 077 (a file left by an older run is removed first, since truncating it would
# keep its mode).
# Off Cloudflare a client can send any CF-Connecting-IP, so it is not trusted here unless the
# environment says TRUST_CF_CONNECTING_IP=true (the integration tests do, to give each test its
# own address); wrangler.toml turns it on for deploys.
runtime_env="$STATE_DIR/runtime.env"
rm -f "$runtime_env"
( umask 077
  { echo "TRUST_CF_CONNECTING_IP=false"
    # Passkeys out of the box: the relying party `localhost` (browsers refuse an IP address
    # as one, so they do WebAuthn at http://localhost:$PORT only; other clients may use either).
    echo "WEBAUTHN_RP_ID=localhost"
    echo "WEBAUTHN_ORIGINS=http://localhost:$PORT,http://127.0.0.1:$PORT"
    cat "$VARS_FILE"
    for name in OPENAI_BASE_URL ANTHROPIC_BASE_URL GEMINI_BASE_URL OPENAI_API_KEY ANTHROPIC_API_KEY \
        GEMINI_API_KEY LIVEKIT_URL LIVEKIT_API_KEY LIVEKIT_API_SECRET PROVISIONING_WEBHOOK_URL \
        PROVISIONING_WEBHOOK_SECRET LOGIN_FAILURES_PER_ACCOUNT LOGIN_FAILURES_PER_ADDRESS \
        LOGIN_FAILURE_WINDOW_SECONDS REGISTRATIONS_PER_ADDRESS_PER_HOUR API_KEY_RATE_LIMIT_RPM \
        HISTORY_CHAR_BUDGET DEMO_TOKEN_DELAY_MS FRAME_ANCESTORS WEBHOOK_RETRY_BASE_MS \
        WEBHOOK_ALLOW_INSECURE_HOSTS TRUST_CF_CONNECTING_IP SERVICE_KEYS DEFAULT_MONTHLY_TOKEN_LIMIT \
        USER_RATE_LIMIT_RPM BENCH_STORAGE_DELAY_MS MAX_ORGS_PER_USER MAX_API_KEYS_PER_USER_PER_ORG MAX_PENDING_INVITATIONS_PER_ORG \
        FILE_MAX_BYTES ORG_FILE_QUOTA_BYTES \
        EMAIL_PROVIDER EMAIL_FROM RESEND_API_KEY RESEND_API_URL DEV_MAILBOX PUBLIC_URL REQUIRE_VERIFIED_EMAIL \
        ALLOW_REGISTRATION REGISTRATION_DOMAINS EMAILS_PER_ACCOUNT_PER_HOUR PASSWORD_RESETS_PER_ADDRESS_PER_HOUR \
        GOOGLE_CLIENT_ID GOOGLE_CLIENT_SECRET MICROSOFT_CLIENT_ID MICROSOFT_CLIENT_SECRET MICROSOFT_TENANT \
        GITHUB_CLIENT_ID GITHUB_CLIENT_SECRET GITHUB_OAUTH_URL GITHUB_API_URL \
        WEBAUTHN_RP_ID WEBAUTHN_ORIGINS ADMIN_EMAILS \
        $(compgen -e | grep '^OIDC_' || true); do
      if [ -n "${!name:-}" ]; then printf '%s=%s\n' "$name" "${!name}"; fi
    done
  } > "$runtime_env" )

# wrangler.toml without its [build] section and with absolute paths: this server runs the
# build that exists and never rebuilds or restarts because a file in src/ or web/ changed.
# (Run scripts/build.sh again and it picks up the new build.)
config="$STATE_DIR/wrangler.serve.toml"
awk -v root="$PWD" '
  /^\[build\]/ { skip = 1; next }
  /^\[/ { skip = 0 }
  skip { next }
  /^main = / { print "main = \"" root "/build/index.js\""; next }
  /^directory = "build\/web"/ { print "directory = \"" root "/build/web\""; next }
  /^migrations_dir = / { print "migrations_dir = \"" root "/migrations\""; next }
  { print }
' wrangler.toml > "$config"
# EMAIL_PROVIDER=cloudflare needs the send_email binding, which wrangler.toml leaves commented
# out until a deploy has a sender domain: a local server gets it (wrangler simulates it, writing
# each message to a temporary file whose path it logs).
provider="$(grep '^EMAIL_PROVIDER=' "$runtime_env" | tail -n 1 || true)"
if [ "$provider" = EMAIL_PROVIDER=cloudflare ] && ! grep -q '^\[\[send_email\]\]' "$config"; then
  printf '\n[[send_email]]\nname = "EMAIL"\n' >> "$config"
fi

npx --no-install wrangler d1 migrations apply DB --local --config "$config" --persist-to "$STATE_DIR" >/dev/null
# wrangler's default inspector port is 9229 when free: servers starting at the same moment
# (the test suites start several) both take it and one fails. A free port of its own instead.
INSPECTOR_PORT="${INSPECTOR_PORT:-$(node -e 'const s = require("net").createServer();
  s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });')}"
exec npx --no-install wrangler dev --config "$config" --ip 127.0.0.1 --port "$PORT" \
  --inspector-port "$INSPECTOR_PORT" \
  --persist-to "$STATE_DIR" --env-file "$runtime_env" --show-interactive-dev-session=false \
  --test-scheduled
