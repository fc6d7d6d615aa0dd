// A CPU profile of the running Worker, by its own workerd's inspector (not wrangler's proxy,
// whose inspector stalls the Worker when the profiler starts): self time per function, top N.
//   node bench/profile.mjs SECONDS [N] [OUT.cpuprofile]
// Serve a build made with KEEP_WASM_NAMES=1 (scripts/build.sh) so wasm functions have names,
// with DEVTOOLS=off (scripts/serve.sh), and put load on it meanwhile; bench/README.md,
// "Profiling", has the whole recipe.
import { execSync } from 'node:child_process';
import fs from 'node:fs';
import WebSocket from 'ws';

const seconds = Number(process.argv[2] || 10);
const top = Number(process.argv[3] || 40);
const out = process.argv[4];

// The Worker's workerd is the one serving with an inspector address; its inspector is the
// listening port whose /json/list names the user Worker.
async function inspectorUrl() {
  const ps = execSync('ps -eo pid,args', { encoding: 'utf8' });
  const pids = ps
    .split('\n')
    .filter((l) => /workerd serve.*--inspector-addr/.test(l))
    .map((l) => l.trim().split(/\s+/)[0]);
  const ss = execSync('ss -ltnp', { encoding: 'utf8' });
  for (const pid of pids) {
    for (const line of ss.split('\n').filter((l) => l.includes(`pid=${pid},`))) {
      const port = line.split(/\s+/)[3].split(':').pop();
      try {
        const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
        const user = list.find((t) => t.id.startsWith('core:user:'));
        if (user) return user.webSocketDebuggerUrl;
      } catch {
        // not an inspector port
      }
    }
  }
  throw new Error('no workerd serving a Worker with an inspector was found');
}

const ws = new WebSocket(await inspectorUrl());
let id = 0;
const pending = new Map();
const send = (method, params = {}) =>
  new Promise((resolve) => {
    pending.set(++id, resolve);
    ws.send(JSON.stringify({ id, method, params }));
  });
ws.on('message', (m) => {
  const d = JSON.parse(m);
  if (d.id && pending.has(d.id)) {
    pending.get(d.id)(d);
    pending.delete(d.id);
  }
});
await new Promise((r) => ws.on('open', r));
await send('Profiler.enable');
await send('Profiler.setSamplingInterval', { interval: 200 });
await send('Profiler.start');
await new Promise((r) => setTimeout(r, seconds * 1000));
const { result } = await send('Profiler.stop');
ws.close();
const profile = result.profile;
if (out) fs.writeFileSync(out, JSON.stringify(profile));

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map();
let total = 0;
profile.samples.forEach((s, i) => {
  const f = byId.get(s).callFrame;
  const key = f.functionName || `(${f.url || 'native'}:${f.lineNumber})`;
  const dt = profile.timeDeltas[i] || 0;
  self.set(key, (self.get(key) || 0) + dt);
  total += dt;
});
console.log(`${(total / 1000).toFixed(0)} ms sampled`);
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`${(v / 1000).toFixed(1).padStart(8)} ${((100 * v) / total).toFixed(1).padStart(5)}%  ${k.slice(0, 140)}`);
}
