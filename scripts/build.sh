#!/usr/bin/env bash
# Builds the Worker (wasm + JS shim into build/) and the web client (into build/web/).
# Also wrangler's [build] command, so `npx wrangler dev` / `npx wrangler deploy` build the same way.
# CHATGATE_PREBUILT=1 makes it a no-op: the dev and test servers build first, then start
# wrangler against that finished build, so wrangler can never serve a half-built one.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${CHATGATE_PREBUILT:-}" = "1" ] && [ -f build/index.js ]; then
  exit 0
fi
bash scripts/setup.sh
cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
export WASM_BINDGEN_BIN="$cargo_bin/wasm-bindgen"
export ESBUILD_BIN="$PWD/node_modules/@esbuild/linux-x64/bin/esbuild"
# --no-opt: worker-build would otherwise download binaryen's wasm-opt, which is not reachable here.
"$cargo_bin/worker-build" --release --no-opt
if [ -f scripts/build-web.sh ]; then
  bash scripts/build-web.sh
else
  mkdir -p build/web
fi
