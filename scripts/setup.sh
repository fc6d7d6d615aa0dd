#!/usr/bin/env bash
# Installs everything the build and the tests need, idempotently, from the package
# registries only (see ../shared/PLATFORM.md): nothing here downloads from anywhere else.
#   scripts/setup.sh          build tools (wasm target, npm packages, the wasm-bindgen CLI)
#   scripts/setup.sh --test   also what the test suite needs (Chromium, Python clients, schemathesis)
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*" >&2; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi
for comp in clippy rustfmt; do
  rustup component list --installed | grep -q "^$comp" || rustup component add "$comp"
done

# npm: wrangler (pinned 4.86.0, the last that runs on Node 20), esbuild, the web client's libraries.
if [ ! -f node_modules/.package-lock.json ] || ! cmp -s package-lock.json node_modules/.setup-lock; then
  log "installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.setup-lock
fi

cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"

# The wasm-bindgen CLI must be exactly the version of the wasm-bindgen crate in Cargo.lock.
bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
if [ "$("$cargo_bin/wasm-bindgen" --version 2>/dev/null | awk '{print $NF}')" != "$bindgen_version" ]; then
  log "installing wasm-bindgen-cli $bindgen_version (first time only, several minutes)"
  # --locked pins a webpki-roots release that crates.io has since yanked; fall back to a fresh resolve.
  cargo install wasm-bindgen-cli --version "$bindgen_version" --locked \
    || cargo install wasm-bindgen-cli --version "$bindgen_version"
fi

if [ "${1:-}" = "--test" ]; then
  if ! command -v chromium >/dev/null 2>&1; then
    log "installing Debian's chromium for the browser tests"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
  fi
  if [ ! -x .venv/bin/python ]; then
    log "creating the Python test environment"
    python3 -m venv .venv
  fi
  # `python -m pip`, not .venv/bin/pip: a venv copied from elsewhere keeps a pip script
  # whose first line points at the original venv (and would install there).
  if ! .venv/bin/python -c 'import openai, anthropic, livekit.api, schemathesis, jwt, cryptography, authlib' 2>/dev/null; then
    log "installing the Python clients and schemathesis used by the tests"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
  fi
fi
log "ok"
