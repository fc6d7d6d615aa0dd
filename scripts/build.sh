#!/usr/bin/env bash
# Builds the Worker (wasm + JS shim into build/) and the web client (into build/web/).
# Also wrangler's [build] command, so `npx wrangler dev` / `npx wrangler deploy` build the same way.
# (scripts/serve.sh, used by `make dev` and the tests, serves a finished build and never
# runs this itself.)
set -euo pipefail
cd "$(dirname "$0")/.."
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
