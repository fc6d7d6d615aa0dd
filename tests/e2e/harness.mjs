// End-to-end harness for the web client: starts the Worker (scripts/serve.sh)
// unless CHATGATE_URL points at a running one, and drives Debian's Chromium
// through playwright-core.
//
// Needs (installed by scripts/setup.sh --test in CI):
//   apt-get install -y chromium        # /usr/bin/chromium (CHROMIUM_PATH overrides)
//   npm ci                             # playwright-core (devDependency)
// Run:
//   bash scripts/build.sh && node --test tests/e2e/
//   CHATGATE_URL=http://127.0.0.1:8787 node --test tests/e2e/    # against a running server
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const ARTIFACTS = path.join(ROOT, 'tests/artifacts');
export const SHOTS = path.join(ARTIFACTS, 'screenshots');

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-quic'];

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitForHealth(base, child, logFile, timeoutMs = 180_000) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (child && child.exitCode != null) {
      throw new Error(`scripts/serve.sh exited with ${child.exitCode}; log:\n${tail(logFile)}`);
    }
    try {
      const r = await fetch(`${base}/health`, { signal: AbortSignal.timeout(3000) });
      if (r.status === 200) return;
      last = `status ${r.status}`;
    } catch (e) {
      last = e.message;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`server did not become healthy (${last}); log:\n${tail(logFile)}`);
}

function tail(file, n = 40) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-n).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Starts (or reuses) the server and a browser. Call stop() at the end.
 * `env`: extra variables for the server it starts (e.g. FRAME_ANCESTORS;
 * a server named by CHATGATE_URL does not get them).
 */
export async function start({ env: serverEnv = {} } = {}) {
  fs.mkdirSync(SHOTS, { recursive: true });
  let base = process.env.CHATGATE_URL ? process.env.CHATGATE_URL.replace(/\/$/, '') : null;
  let child = null;
  let stateDir = null;
  const logFile = path.join(ARTIFACTS, 'e2e-server.log');
  if (!base) {
    if (!fs.existsSync(path.join(ROOT, 'build/index.js'))) {
      throw new Error('the Worker is not built: run `bash scripts/build.sh` first (or set CHATGATE_URL)');
    }
    if (process.env.E2E_SKIP_WEB_BUILD !== '1') {
      // Cheap (about a second): makes sure the served client is the current source.
      execFileSync('bash', [path.join(ROOT, 'scripts/build-web.sh')], { cwd: ROOT, env: { ...process.env, QUIET: '1' }, stdio: 'inherit' });
    }
    const port = await freePort();
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatgate-e2e-'));
    const out = fs.openSync(logFile, 'w');
    child = spawn('bash', [path.join(ROOT, 'scripts/serve.sh')], {
      cwd: ROOT,
      // The dev mailbox on (as under make dev): the tests read their mail there. wrangler's
      // DevTools proxy off, as for the API tests: it relays every request's network events to
      // node, which stalls requests for seconds on a busy machine.
      env: { ...process.env, DEV_MAILBOX: 'on', DEVTOOLS: 'off', ...serverEnv, PORT: String(port), STATE_DIR: stateDir },
      detached: true, // its own process group, so wrangler and workerd go with it
      stdio: ['ignore', out, out],
    });
    base = `http://127.0.0.1:${port}`;
    try {
      await waitForHealth(base, child, logFile);
    } catch (e) {
      killGroup(child);
      throw e;
    }
  }
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
  });
  return {
    base,
    browser,
    async stop() {
      await browser.close().catch(() => {});
      if (child) {
        await killGroup(child);
        if (stateDir) fs.rmSync(stateDir, { recursive: true, force: true });
      }
    },
  };
}

async function killGroup(child) {
  if (child.exitCode != null || child.signalCode != null) return;
  const gone = new Promise((r) => child.once('exit', r));
  try { process.kill(-child.pid, 'SIGTERM'); } catch { return; }
  const t = setTimeout(() => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } }, 5000);
  await gone;
  clearTimeout(t);
}

/**
 * A fresh browser context + page that records CSP violations, page errors
 * and dialogs (which must never fire).
 */
export async function newPage(env, { viewport = { width: 1280, height: 820 }, colorScheme = 'light', bypassCSP = false } = {}) {
  const context = await env.browser.newContext({ baseURL: env.base, viewport, colorScheme, bypassCSP });
  context.setDefaultTimeout(20_000);
  const page = await context.newPage();
  const problems = { csp: [], errors: [], dialogs: [] };
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      // eslint-disable-next-line no-console
      console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content.Security.Policy|CSP violation/i.test(m.text())) problems.csp.push(m.text());
  });
  page.on('pageerror', (e) => problems.errors.push(String(e)));
  page.on('dialog', async (d) => { problems.dialogs.push(d.message()); await d.dismiss().catch(() => {}); });
  return { context, page, problems };
}

export async function shot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: false });
}

let seq = 0;
export function uniqueEmail(tag = 'user') {
  seq += 1;
  return `${tag}-${Date.now().toString(36)}-${seq}-${Math.random().toString(36).slice(2, 7)}@example.com`;
}

export const PASSWORD = 'correct horse battery staple 42';

/** Signs up through the UI and waits for the chat page. */
export async function signUpUI(page, { email = uniqueEmail(), name = 'Ada Lovelace', password = PASSWORD } = {}) {
  await page.goto('/signup');
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.waitForURL('**/chat');
  await page.locator('#composer-input').waitFor();
  return { email, name, password };
}

/** Plain API call from node (no browser). */
export async function apiCall(env, method, p, { body, token, headers = {} } = {}) {
  const res = await fetch(env.base + p, {
    method,
    headers: {
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = text; }
  return { status: res.status, json, headers: res.headers };
}

/**
 * Runs axe-core (WCAG 2.1 A/AA rules) on the page and returns the violations
 * as short strings. The page's context must have bypassCSP (axe is injected).
 */
export async function axeViolations(page) {
  await page.addScriptTag({ path: path.join(ROOT, 'node_modules/axe-core/axe.min.js') });
  const res = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return r.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
  });
  return res;
}

/**
 * The link to `page` (e.g. '/verify-email') in the newest mail to `to` whose subject
 * contains `subject`, read from the dev mailbox (mail goes out after the response, so
 * this waits for it): the path and query, to open in the browser.
 */
export async function mailLink(env, to, subject, page, { timeoutMs = 15_000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { status, json } = await apiCall(env, 'GET', `/api/dev/mailbox?to=${encodeURIComponent(to)}`);
    if (status !== 200) throw new Error(`GET /api/dev/mailbox: ${status}`);
    const mail = json.items.find((m) => m.subject.includes(subject));
    if (mail) {
      const url = mail.text.match(new RegExp(`https?://\\S+${page}\\?token=[A-Za-z0-9_-]+`));
      if (!url) throw new Error(`no ${page} link in: ${mail.text}`);
      const u = new URL(url[0]);
      return u.pathname + u.search;
    }
    if (Date.now() > deadline) throw new Error(`no mail to ${to} about ${subject}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
