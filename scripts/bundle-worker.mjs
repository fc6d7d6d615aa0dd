// Turns wasm-bindgen's output (index.js + index_bg.wasm in STAGE) into the Worker's entry
// module, as worker-build 0.8.7 does after its wasm-bindgen step: the entry shim
// (scripts/worker/shim.js) gets one handler per exported function and a guarded export per
// exported class, and esbuild bundles it with the bindings into STAGE/index.js.
//   node scripts/bundle-worker.mjs STAGE
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const stage = process.argv[2];
if (!stage) {
  console.error('usage: node scripts/bundle-worker.mjs STAGE');
  process.exit(2);
}
const here = path.dirname(fileURLToPath(import.meta.url));
const bindings = fs.readFileSync(path.join(stage, 'index.js'), 'utf8');

// `export …` declarations at a statement boundary, as worker-build reads them.
const decls = [];
for (const m of bindings.matchAll(/(^|[\s;}])export /g)) {
  decls.push(bindings.slice(m.index + m[1].length));
}
const internal = new Set(['__wbg_reset_state', '__worker_init_state']);
const functions = [];
const classes = [];
for (const d of decls) {
  let m;
  if ((m = /^export (?:async )?function\s*([\w$]+)\s*\(/.exec(d))) {
    if (!internal.has(m[1])) functions.push(m[1]);
  } else if ((m = /^export \{[^}]*? as ([\w$]+)\s*\}/.exec(d))) {
    if (!internal.has(m[1])) functions.push(m[1]);
  } else if ((m = /^export class ([\w$]+)\s*\{/.exec(d))) {
    classes.push(m[1]);
  } else if ((m = /^export var ([\w$]+)\s*=\s*class/.exec(d))) {
    classes.push(m[1]);
  }
}
if (!functions.includes('fetch')) {
  console.error(`bundle-worker: ${stage}/index.js exports no fetch handler`);
  process.exit(1);
}

const eventHandlers = new Set(['fetch', 'queue', 'scheduled', 'email', 'connect']);
const handlers = functions
  .map((name) =>
    eventHandlers.has(name)
      ? `Entrypoint.prototype.${name} = function ${name} (arg) {\n  return exports.${name}.call(this, arg, this.env, this.ctx);\n};\n`
      : `Entrypoint.prototype.${name} = exports.${name};\n`,
  )
  .join('');
const template = fs.readFileSync(path.join(here, 'worker', 'shim.js'), 'utf8');
if (!template.includes('$HANDLERS')) {
  console.error('bundle-worker: scripts/worker/shim.js has no $HANDLERS');
  process.exit(1);
}
const shim =
  template.replace('$HANDLERS', () => handlers) +
  classes.map((c) => `export const ${c} = new Proxy(exports.${c}, classProxyHooks);\n`).join('');
const shimPath = path.join(stage, 'shim.js');
fs.writeFileSync(shimPath, shim);

await esbuild.build({
  absWorkingDir: path.resolve(stage),
  entryPoints: ['./shim.js'],
  outfile: 'index.js',
  bundle: true,
  format: 'esm',
  minify: true,
  allowOverwrite: true,
  external: ['./index_bg.wasm', 'cloudflare:*'],
  logLevel: 'warning',
});
// wasm-bindgen imports the module as a source phase import; workerd takes a plain one.
const out = path.join(stage, 'index.js');
fs.writeFileSync(out, fs.readFileSync(out, 'utf8').replace('import source ', 'import '));
fs.rmSync(shimPath);
fs.rmSync(path.join(stage, 'snippets'), { recursive: true, force: true });
console.log(`bundle-worker: ${functions.join(', ')} and ${classes.length} classes`);
