#!/usr/bin/env bash
# `make bench`: builds the release Worker, the mock upstream and the load generator, installs
# LiteLLM's proxy (the peer) into bench/.venv, then runs bench/loadgen, which starts everything
# on 127.0.0.1, prints one table and writes it to bench/results.md.
#
#   bash bench/run.sh [--quick] [--only latency,fidelity,capacity,login,history,edge,upload,size]
#
# The floor (bench/floor: minimal JS Workers of each shape, each under its own wrangler dev)
# runs in the latency, fidelity and capacity sections, in the same rounds as chatgate.
#
#   BENCH_SKIP_BUILD=1   use the Worker already in build/ (the mock and loadgen are still built)
#   BENCH_*              counts, see bench/README.md
#
# Benchmarks are not tests: nothing here runs in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
work=bench/.work
mkdir -p "$work"
rm -rf "$work"/run-* "$work"/*.log
started=$(date +%s)
say() { echo "[run.sh $(( $(date +%s) - started ))s] $*" >&2; }

# The peer, pinned; network-bound, so it installs while the CPU compiles.
LITELLM_VERSION=1.106.2
litellm_ok() {
  bench/.venv/bin/python -c "import importlib.metadata as m, sys; sys.exit(m.version('litellm') != '$LITELLM_VERSION')" 2>/dev/null \
    && [ -x bench/.venv/bin/litellm ]
}
(
  if litellm_ok; then
    echo "LiteLLM $LITELLM_VERSION already in bench/.venv"
  else
    python3 -m venv bench/.venv \
      && bench/.venv/bin/pip install --disable-pip-version-check -q "litellm[proxy]==$LITELLM_VERSION"
  fi
) > "$work/litellm-install.log" 2>&1 &
pip_pid=$!

if [ "${BENCH_SKIP_BUILD:-}" = "1" ] && [ -f build/index_bg.wasm ]; then
  say "BENCH_SKIP_BUILD=1: using the Worker in build/"
else
  say "building the release Worker (scripts/build.sh)"
  bash scripts/build.sh
fi

# wrangler dev reloads the Worker whenever build/ changes, and others may rebuild while this
# runs: it serves a snapshot of the finished build, with the same scripts/serve.sh.
tree="$work/tree"
rm -rf "$tree"
mkdir -p "$tree/src" "$tree/web"
cp -r build scripts migrations wrangler.toml package.json "$tree/"
# The floor Workers (bench/floor), served from the snapshot too.
mkdir -p "$tree/bench"
cp -r bench/floor "$tree/bench/"
rm -rf "$tree/bench/floor"/*/.wrangler
ln -s ../../../node_modules "$tree/node_modules"

# The mock and the load generator: optimised, but without the Worker's size-first profile
# (fat LTO, one codegen unit, opt-level "s"), which would only slow this build down. Their own
# target directory keeps the main one's artefacts untouched.
say "building chatgate-mock and loadgen (release)"
CARGO_TARGET_DIR=target/bench \
CARGO_PROFILE_RELEASE_OPT_LEVEL=3 \
CARGO_PROFILE_RELEASE_LTO=false \
CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
CARGO_PROFILE_RELEASE_PANIC=unwind \
  cargo build --release --quiet -p chatgate-mock -p chatgate-bench

say "waiting for the LiteLLM install"
litellm=none
note=""
if wait "$pip_pid" && litellm_ok; then
  litellm=bench/.venv/bin/litellm
else
  note="pip install 'litellm[proxy]==$LITELLM_VERSION' failed: $(tail -n 3 "$work/litellm-install.log" | tr '\n' ' ' | cut -c1-300)"
  say "$note"
fi

say "running the benchmark"
target/bench/release/loadgen --root . --serve-root "$tree" --work "$work" --out bench/results.md \
  --mock-bin target/bench/release/chatgate-mock --litellm "$litellm" --litellm-note "$note" "$@"
say "done: bench/results.md (make bench took $(( $(date +%s) - started )) s)"
