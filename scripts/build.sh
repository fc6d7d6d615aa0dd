#!/usr/bin/env bash
# Builds the Worker (wasm + entry module into build/) and the web client (into build/web/).
# Also wrangler's [build] command, so `npx wrangler dev` / `npx wrangler deploy` build the same way.
# (scripts/serve.sh, used by `make dev` and the tests, serves a finished build and never
# runs this itself.)
#
# The steps are worker-build 0.8.7's, without compiling worker-build itself (minutes on a
# fresh machine): cargo builds the wasm, the wasm-bindgen CLI (the exact version of the
# crate in Cargo.lock) writes the bindings, scripts/bundle-worker.mjs adds the entry shim
# and bundles with esbuild. No wasm-opt: Debian's binaryen cannot read this module.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
target_dir="$(cargo metadata --format-version 1 --no-deps | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')"

WASM_BINDGEN_USE_JS_SYS=1 cargo build --lib --release --target wasm32-unknown-unknown
stage=build/.stage
rm -rf "$stage"
mkdir -p "$stage"
# The wasm's `name` section (every function's Rust name: 0.9 MB, a seventh of the gzip'd
# Worker) is left out, as worker-build's wasm-opt step leaves it out. KEEP_WASM_NAMES=1 keeps
# it, for a CPU profile that names functions (bench/README.md, "Profiling").
names=(--remove-name-section)
if [ "${KEEP_WASM_NAMES:-0}" = 1 ]; then names=(); fi
"$cargo_bin/wasm-bindgen" "$target_dir/wasm32-unknown-unknown/release/chatgate.wasm" \
  --out-dir "$stage" --out-name index --target module --no-typescript \
  --experimental-reset-state-function --force-enable-abort-handler "${names[@]}"
node scripts/bundle-worker.mjs "$stage"
# The finished pair replaces the last build (its bindings are named after this wasm).
mv -f "$stage/index_bg.wasm" build/index_bg.wasm
mv -f "$stage/index.js" build/index.js
rm -rf "$stage" build/.tmp build/worker build/package.json
echo '*' > build/.gitignore

if [ -f scripts/build-web.sh ]; then
  bash scripts/build-web.sh
else
  mkdir -p build/web
fi
