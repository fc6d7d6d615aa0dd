#!/usr/bin/env bash
# Builds the web client (web/) into build/web/, the Worker's static-assets
# directory: one minified ES module bundle (+ a lazily loaded chart chunk)
# and one CSS file, with content-hashed names under /assets/, and an
# index.html that points at them. Offline, idempotent, about a second.
# Uses the esbuild binary that comes with wrangler (npm ci must have run).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ESBUILD="${ESBUILD_BIN:-}"
if [[ -z "$ESBUILD" ]]; then
  for c in node_modules/@esbuild/linux-x64/bin/esbuild node_modules/.bin/esbuild; do
    if [[ -x "$c" ]]; then ESBUILD="$c"; break; fi
  done
fi
if [[ -z "$ESBUILD" ]]; then
  echo "build-web: esbuild not found; run 'npm ci' at the repository root first" >&2
  exit 1
fi
for dep in marked dompurify highlight.js uplot qrcode-generator; do
  if [[ ! -d "node_modules/$dep" ]]; then
    echo "build-web: node_modules/$dep is missing; run 'npm ci' at the repository root first" >&2
    exit 1
  fi
done

OUT="build/web"
TMP="build/.web-tmp"
rm -rf "$TMP"
mkdir -p "$TMP"

SOURCEMAP=()
if [[ "${WEB_SOURCEMAP:-0}" == "1" ]]; then SOURCEMAP=(--sourcemap=linked); fi

"$ESBUILD" web/js/main.js \
  --bundle --splitting --format=esm --platform=browser --target=es2022 \
  --minify --legal-comments=none --charset=utf8 \
  --loader:.svg=file --loader:.png=file --loader:.woff2=file \
  --entry-names='assets/[name]-[hash]' --chunk-names='assets/chunk-[hash]' --asset-names='assets/[name]-[hash]' \
  --public-path=/ \
  --define:process.env.NODE_ENV='"production"' \
  --outdir="$TMP" --metafile="$TMP/meta.json" --log-level=warning "${SOURCEMAP[@]}"

node - "$TMP" <<'NODE'
const fs = require('fs');
const path = require('path');
const dir = process.argv[2];
const meta = JSON.parse(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8'));
let js = null;
let css = null;
for (const [out, info] of Object.entries(meta.outputs)) {
  if (info.entryPoint === 'web/js/main.js') {
    js = out;
    css = info.cssBundle || null;
  }
}
if (!js || !css) throw new Error('build-web: entry outputs not found in the metafile');
const rel = (p) => '/' + path.relative(dir, p).split(path.sep).join('/');
let html = fs.readFileSync('web/index.html', 'utf8');
html = html.replace('%APP_JS%', rel(js)).replace('%APP_CSS%', rel(css));
// Start fetching the entry's static imports, and the chat page (the
// landing page once signed in) with its imports, early.
const want = new Set();
const addWithImports = (out) => {
  if (!out || want.has(out)) return;
  want.add(out);
  for (const i of meta.outputs[out].imports || []) if (i.kind === 'import-statement') addWithImports(i.path);
};
addWithImports(js);
want.delete(js);
addWithImports(Object.keys(meta.outputs).find((o) => meta.outputs[o].entryPoint === 'web/js/pages/chat.js'));
const preloads = [...want].filter((p) => p.endsWith('.js'))
  .map((p) => `<link rel="modulepreload" href="${rel(p)}">`).join('\n');
if (preloads) html = html.replace('</head>', `${preloads}\n</head>`);
if (/<script(?![^>]*\bsrc=)[^>]*>/i.test(html) || /<style/i.test(html) || /\sstyle=/i.test(html)) {
  throw new Error('build-web: index.html must not contain inline scripts or styles (CSP)');
}
fs.writeFileSync(path.join(dir, 'index.html'), html);
fs.rmSync(path.join(dir, 'meta.json'));
NODE

cp web/favicon.svg "$TMP/favicon.svg"
# The OpenAPI document is served by the Worker's /openapi.json route from here, not from the
# wasm (src/routes/service.rs).
cp src/openapi.json "$TMP/openapi.json"
# Hashed assets never change: let browsers keep them. (Cloudflare static
# assets read this file; the Worker sets the CSP and other headers.)
cat > "$TMP/_headers" <<'EOF'
/assets/*
  Cache-Control: public, max-age=31536000, immutable
EOF

rm -rf "$OUT"
mv "$TMP" "$OUT"

if [[ "${QUIET:-0}" != "1" ]]; then
  total=0
  for f in "$OUT"/assets/*.js "$OUT"/assets/*.css; do
    gz=$(gzip -9c "$f" | wc -c)
    total=$((total + gz))
    printf '  %-40s %7d B  (%d B gzipped)\n' "${f#"$OUT"/}" "$(wc -c < "$f")" "$gz"
  done
  echo "build-web: wrote $OUT (${total} B gzipped in JS+CSS)"
fi
