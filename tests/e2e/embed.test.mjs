// End-to-end test of the embedded chat (/embed): another site, on another
// origin, gets an embed ticket from its backend, exchanges it in its page,
// opens chatgate in an iframe and hands it the session by postMessage.
// Needs its own server (started with FRAME_ANCESTORS naming that site), so it
// is skipped against CHATGATE_URL. See harness.mjs for how to run it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { start, newPage, shot, signUpUI, uniqueEmail, apiCall, axeViolations, PASSWORD } from './harness.mjs';

const EXTERNAL = !!process.env.CHATGATE_URL;
const skip = EXTERNAL && 'needs a server it starts itself, with FRAME_ANCESTORS naming the test site';

let env;
let site; // the embedding site: {origin, tickets, close}
let third; // a site that is not in FRAME_ANCESTORS
let user; // the embedding site's user, in chatgate: {email, token, orgId}
let fp; // a first-party chatgate tab of another user, in the same browser: {context, page, problems, name}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function listen(handler) {
  return new Promise((resolve, reject) => {
    const server = http.createServer((req, res) => {
      Promise.resolve(handler(req, res)).catch((e) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(e && e.stack));
      });
    });
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({ origin: `http://127.0.0.1:${port}`, close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }) });
    });
  });
}

/**
 * The embedding page. Its script is the integration as documented (web/README.md,
 * "Embedding the chat"), plus test hooks: window.__events (what the iframe
 * said), window.__ticket and window.__session (to check them from the test),
 * and ?stale=1, which hands over a dead access token so the iframe must refresh.
 */
function sitePage(chatgate) {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Example Co · Help center</title>
<style>
  body { margin: 0; font: 15px/1.5 system-ui, sans-serif; background: #f3efe7; color: #2b2118; }
  header { background: #5b3a1e; color: #fff; padding: 14px 28px; font-weight: 700; font-size: 18px; }
  header span { font-weight: 400; opacity: .8; margin-left: 12px; font-size: 14px; }
  .wrap { display: grid; grid-template-columns: minmax(0, 1fr) 440px; gap: 28px; padding: 24px 28px; }
  article { background: #fff; border-radius: 12px; padding: 20px 24px; }
  #chat { display: flex; flex-direction: column; gap: 8px; }
  #chat h2 { margin: 0; font-size: 16px; }
  #chat iframe { width: 440px; height: 620px; border: 1px solid #d8cbb8; border-radius: 12px; background: #fff; }
  #status { font-size: 13px; color: #6b5a48; }
</style>
</head>
<body>
<header>Example Co <span>Help center</span></header>
<div class="wrap">
  <article>
    <h1>Shipping and returns</h1>
    <p>Orders leave our warehouse within two working days. You can return any item within 30 days.</p>
    <p>Questions? Ask our assistant on the right: it is chatgate, signed in as you, inside this page.</p>
  </article>
  <section id="chat"><h2>Assistant</h2><div id="status">Connecting…</div></section>
</div>
<script>
const TEST = { stale: new URLSearchParams(location.search).get("stale") === "1" };
window.__events = [];

// ---- the integration ----
const CHATGATE = ${JSON.stringify(chatgate)}; // chatgate's origin
const frame = document.createElement("iframe");
frame.id = "chat-frame";
frame.title = "Chat with the assistant";
frame.src = CHATGATE + "/embed";
document.getElementById("chat").append(frame);

window.addEventListener("message", async (event) => {
  if (event.origin !== CHATGATE || event.source !== frame.contentWindow) return;
  const type = event.data && event.data.type;
  window.__events.push(type);
  if (type === "chatgate:waiting") {
    // The iframe is up and has no session: a ticket from our backend, exchanged by
    // this page (the browser sends our Origin, which the ticket is bound to).
    const t = await (await fetch("/chatgate-ticket", { method: "POST" })).json();
    window.__ticket = t.ticket;
    const r = await fetch(CHATGATE + "/api/embed/exchange", {
      method: "POST", mode: "cors",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ticket: t.ticket }),
    });
    if (!r.ok) { document.getElementById("status").textContent = "Could not open the chat (" + r.status + ")"; return; }
    const { access_token, refresh_token } = await r.json();
    window.__session = { access_token, refresh_token };
    frame.contentWindow.postMessage({
      type: "chatgate:session",
      access_token: TEST.stale ? "stale.access.token" : access_token,
      refresh_token,
      org_id: t.org_id,
    }, CHATGATE);
  } else if (type === "chatgate:ready") {
    document.getElementById("status").textContent = "Connected";
  } else if (type === "chatgate:signed-out") {
    document.getElementById("status").textContent = "Signed out of the assistant";
  }
});
</script>
</body>
</html>`;
}

before(async () => {
  if (EXTERNAL) return;
  const tickets = [];
  site = await listen(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    if (req.method === 'GET' && url.pathname === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(sitePage(env.base));
    } else if (req.method === 'POST' && url.pathname === '/chatgate-ticket') {
      // The site's backend: it holds the user's chatgate access token.
      const r = await apiCall(env, 'POST', '/api/embed/tickets', { token: user.token, body: { org_id: user.orgId, origin: site.origin } });
      tickets.push(r);
      res.writeHead(r.status === 201 ? 200 : 502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ...r.json, org_id: user.orgId }));
    } else {
      res.writeHead(404).end();
    }
  });
  site.tickets = tickets;
  third = await listen((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><title>Not allowed</title><h1>Framing chatgate without permission</h1>
<iframe id="chat-frame" src="${env.base}/embed" width="420" height="500"></iframe>`);
  });
  env = await start({ env: { FRAME_ANCESTORS: `'self' ${site.origin}` } });

  const reg = await apiCall(env, 'POST', '/api/auth/register', {
    body: { email: uniqueEmail('embed'), password: PASSWORD, name: 'Embed Customer', refresh_token_in: 'body' },
  });
  assert.equal(reg.status, 201, JSON.stringify(reg.json));
  const me = await apiCall(env, 'GET', '/api/me', { token: reg.json.access_token });
  user = { email: reg.json.user.email, token: reg.json.access_token, orgId: me.json.orgs[0].id };
});

after(async () => {
  if (fp) await fp.context.close().catch(() => {});
  if (env) await env.stop();
  if (site) await site.close();
  if (third) await third.close();
});

function assertClean(problems, where) {
  assert.deepEqual(problems.csp, [], `CSP violations on ${where}`);
  assert.deepEqual(problems.errors, [], `page errors on ${where}`);
  assert.deepEqual(problems.dialogs, [], `dialogs fired on ${where}`);
}

async function chatFrame(page) {
  const el = await page.waitForSelector('#chat-frame');
  const frame = await el.contentFrame();
  assert.ok(frame, 'the iframe has a document');
  return frame;
}

/** Records CSP violations, page errors and dialogs of one more page of a context (as newPage does). */
function watch(page) {
  const problems = { csp: [], errors: [], dialogs: [] };
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content.Security.Policy|CSP violation/i.test(m.text())) problems.csp.push(m.text());
  });
  page.on('pageerror', (e) => problems.errors.push(String(e)));
  page.on('dialog', async (d) => { problems.dialogs.push(d.message()); await d.dismiss().catch(() => {}); });
  return problems;
}

const events = (page) => page.evaluate(() => window.__events.slice());

/** The first-party tab still shows its own user, after a reload too. */
async function firstPartyIntact(where) {
  const { page } = fp;
  await page.locator('#topbar').getByText(fp.name).waitFor();
  await page.reload();
  await page.locator('#composer-input').waitFor();
  await page.locator('#topbar').getByText(fp.name).waitFor();
  assert.equal(await page.locator('#topbar').getByText('Embed Customer').count(), 0, `the first-party tab is not switched to the embedded user (${where})`);
  assertClean(fp.problems, `first-party tab (${where})`);
}

test('the embedding site opens the chat in an iframe, and a demo/echo reply streams inside it', { skip }, async () => {
  // Another user is signed in to chatgate itself in the same browser: the
  // embedded session must not mix with theirs.
  fp = await newPage(env);
  fp.name = 'First Party';
  await signUpUI(fp.page, { name: fp.name });

  const page = await fp.context.newPage();
  const problems = watch(page);
  const refreshes = [];
  page.on('request', (r) => { if (r.url().endsWith('/api/auth/refresh')) refreshes.push(r.url()); });
  await page.goto(site.origin + '/');
  const frame = await chatFrame(page);
  await frame.locator('#composer-input').waitFor();
  await page.getByText('Connected').waitFor();
  assert.deepEqual(await events(page), ['chatgate:waiting', 'chatgate:ready']);
  assert.deepEqual(refreshes, [], 'a fresh session needs no refresh');
  // Chat only: no top bar, no settings; the conversation list is a drawer.
  assert.equal(await frame.locator('#topbar').isVisible(), false);
  assert.equal(await frame.getByRole('link', { name: 'Settings' }).count(), 0);
  assert.equal(await frame.locator('#chat-sidebar').isVisible(), false, 'the list starts collapsed');

  // A reply streams in pieces inside the iframe.
  await frame.locator('#model-select').selectOption('demo/echo');
  const text = 'Hello from the embedding site. This reply should stream into the iframe piece by piece.';
  await frame.locator('#composer-input').fill(text);
  await frame.locator('#composer-input').press('Enter');
  await frame.locator('.msg-assistant').waitFor();
  const samples = [];
  for (let i = 0; i < 2000; i++) {
    const s = await frame.evaluate(() => {
      const el = document.querySelector('.msg-assistant');
      return { len: el.querySelector('.msg-body').innerText.length, streaming: el.classList.contains('is-streaming') };
    });
    samples.push(s.len);
    if (!s.streaming && s.len > 0) break;
    await sleep(20);
  }
  const distinct = [...new Set(samples.filter((n) => n > 0))];
  assert.ok(distinct.length >= 3, `the reply grows in steps, saw ${JSON.stringify(distinct)}`);
  assert.ok((await frame.locator('.msg-assistant .msg-body').innerText()).includes('piece by piece'));
  // The conversation's address stays under /embed, and no token is ever in a URL.
  assert.match(new URL(frame.url()).pathname, /^\/embed\/chat\/[^/]+$/);
  const session = await page.evaluate(() => window.__session);
  for (const u of [frame.url(), page.url()]) {
    assert.ok(!u.includes(session.refresh_token) && !u.includes(session.access_token), 'no token in a URL');
  }
  // The tokens are in memory only: not in the iframe's storage.
  const stored = await frame.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
  assert.ok(!stored.includes(session.refresh_token) && !stored.includes(session.access_token), 'no token in web storage');

  await shot(page, 'embed');

  // The conversation list opens and closes.
  await frame.getByRole('button', { name: 'Conversations' }).click();
  await frame.locator('.conv-link[aria-current="page"]').waitFor();
  await sleep(300); // the drawer's transition
  await shot(page, 'embed-conversations');
  await page.keyboard.press('Escape');
  await frame.locator('#chat-sidebar').waitFor({ state: 'hidden' });

  // Messages from anyone but the parent window are ignored (here: the iframe itself).
  const meCalls = [];
  page.on('request', (r) => { if (r.url().endsWith('/api/me')) meCalls.push(r.url()); });
  await frame.evaluate(() => window.postMessage({ type: 'chatgate:session', access_token: 'x.y.z', refresh_token: 'forged' }, '*'));
  // ... and so is a parent's message without string tokens.
  await page.evaluate((o) => document.getElementById('chat-frame').contentWindow.postMessage({ type: 'chatgate:session', access_token: 1, refresh_token: null }, o), env.base);
  await sleep(500);
  assert.deepEqual(meCalls, [], 'no new session was opened');
  await frame.locator('.msg-assistant').waitFor();

  await firstPartyIntact('after the embed opened');
  assertClean(problems, 'embedding page and iframe');
  await page.close();
});

test('an embed ticket works once', { skip }, async () => {
  const page = await fp.context.newPage();
  await page.goto(site.origin + '/');
  await (await chatFrame(page)).locator('#composer-input').waitFor();
  // The page that exchanged it, trying again (same origin, so CORS lets it read the answer).
  const again = await page.evaluate(async ([base, ticket]) => {
    const r = await fetch(`${base}/api/embed/exchange`, {
      method: 'POST', mode: 'cors', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ticket }),
    });
    return { status: r.status, body: await r.json() };
  }, [env.base, await page.evaluate(() => window.__ticket)]);
  assert.equal(again.status, 401, JSON.stringify(again.body));
  assert.match(again.body.detail, /not valid, already used, or expired/);
  // The exchange wants a JSON body: a plain-text one (fetch's default for a string) is 415.
  const plain = await page.evaluate(async (base) => (await fetch(`${base}/api/embed/exchange`, {
    method: 'POST', mode: 'cors', body: JSON.stringify({ ticket: 'x' }),
  })).status, env.base);
  assert.equal(plain, 415);
  await page.close();
});

test('the embedded session refreshes with the refresh token in the body, never the cookie', { skip }, async () => {
  const page = await fp.context.newPage();
  const problems = watch(page);
  const refreshes = [];
  page.on('request', (r) => { if (r.url().endsWith('/api/auth/refresh')) refreshes.push(r); });
  // The page hands over a dead access token: the first request is refused, the
  // iframe refreshes with its refresh token and carries on.
  await page.goto(site.origin + '/?stale=1');
  const frame = await chatFrame(page);
  await frame.locator('#composer-input').waitFor();
  await page.getByText('Connected').waitFor();
  assert.equal(refreshes.length, 1, 'one refresh');
  const req = refreshes[0];
  const session = await page.evaluate(() => window.__session);
  assert.deepEqual(req.postDataJSON(), { refresh_token: session.refresh_token, refresh_token_in: 'body' });
  const headers = await req.allHeaders();
  assert.equal(headers.cookie, undefined, 'no cookie is sent (the first-party session has one in this browser)');
  const res = await req.response();
  assert.equal(res.status(), 200);
  const body = await res.json();
  assert.ok(body.refresh_token && body.refresh_token !== session.refresh_token, 'the rotated refresh token comes back in the body');
  // The iframe works with the new tokens.
  await frame.locator('#composer-input').fill('After a refresh.');
  await frame.locator('#composer-input').press('Enter');
  await frame.locator('.msg-assistant:not(.is-streaming) .msg-body', { hasText: 'After a refresh.' }).waitFor();
  await firstPartyIntact('after the embed refreshed');
  assertClean(problems, 'embed refresh');
  await page.close();
});

test('sign out inside the embed tells the parent, and ends only the embedded session', { skip }, async () => {
  const page = await fp.context.newPage();
  const problems = watch(page);
  await page.goto(site.origin + '/');
  const frame = await chatFrame(page);
  await frame.locator('#composer-input').waitFor();
  const { access_token: token } = await page.evaluate(() => window.__session);
  assert.equal((await apiCall(env, 'GET', '/api/me', { token })).status, 200);
  await frame.getByRole('button', { name: 'Sign out' }).click();
  await frame.getByText('Waiting for the embedding page…').waitFor();
  await frame.getByText('You signed out.').waitFor();
  await page.getByText('Signed out of the assistant').waitFor();
  await shot(page, 'embed-signed-out');
  assert.deepEqual(await events(page), ['chatgate:waiting', 'chatgate:ready', 'chatgate:signed-out']);
  assert.equal((await apiCall(env, 'GET', '/api/me', { token })).status, 401, 'the embedded session is revoked');
  await firstPartyIntact('after signing out of the embed');
  assertClean(problems, 'embed sign-out');
  await page.close();
});

test('opened on its own, /embed says it belongs in another site', { skip }, async () => {
  const page = await fp.context.newPage();
  await page.goto(env.base + '/embed');
  await page.getByText('It is meant to be shown inside another site.').waitFor();
  await page.getByRole('link', { name: 'Open chatgate' }).waitFor();
  await page.close();
});

test('a site that is not in FRAME_ANCESTORS cannot frame chatgate', { skip }, async () => {
  const { context, page } = await newPage(env);
  const refused = [];
  page.on('console', (m) => { if (/frame-ancestors/.test(m.text())) refused.push(m.text()); });
  const answers = [];
  page.on('response', (r) => { if (r.url().startsWith(env.base)) answers.push(r); });
  await page.goto(third.origin + '/');
  const el = await page.waitForSelector('#chat-frame');
  for (let i = 0; i < 50 && !answers.length; i++) await sleep(100);
  await sleep(1000);
  // The server answered with its CSP, and the browser refused to render it here.
  assert.ok(answers.length, 'the iframe was requested');
  const csp = await answers[0].headerValue('content-security-policy');
  assert.match(csp, new RegExp(`frame-ancestors 'self' ${site.origin}$`));
  const frame = await el.contentFrame();
  const url = frame ? frame.url() : '';
  assert.ok(!url.startsWith(env.base), `the frame is not chatgate's page (${url})`);
  const hasApp = frame ? await frame.evaluate(() => !!document.getElementById('app')).catch(() => false) : false;
  assert.equal(hasApp, false, 'chatgate is not rendered in the frame');
  assert.ok(refused.some((t) => /violates .*"frame-ancestors[^"]*".*blocked|Refused to frame/s.test(t)),
    `the browser reports the frame-ancestors violation: ${JSON.stringify(refused)}`);
  await shot(page, 'embed-refused');
  await context.close();
});

test('accessibility of the embedded chat (axe, WCAG 2.1 AA)', { skip }, async () => {
  // axe is injected as a script, so this context bypasses the CSP.
  const { context, page } = await newPage(env, { bypassCSP: true, colorScheme: 'dark' });
  await page.goto(site.origin + '/');
  const frame = await chatFrame(page);
  await frame.locator('#composer-input').waitFor();
  await frame.locator('#composer-input').fill('Accessibility **check** inside the iframe.');
  await frame.locator('#composer-input').press('Enter');
  await frame.locator('.msg-assistant:not(.is-streaming) .msg-body', { hasText: 'Accessibility' }).waitFor();
  const found = {};
  const check = async (name) => { const v = await axeViolations(frame); if (v.length) found[name] = v; };
  await check('embed-chat');
  await frame.getByRole('button', { name: 'Conversations' }).click();
  await frame.locator('.conv-link').first().waitFor();
  await check('embed-conversations');
  await page.keyboard.press('Escape');
  await frame.getByRole('button', { name: 'Sign out' }).click();
  await frame.getByText('You signed out.').waitFor();
  await check('embed-signed-out');
  assert.deepEqual(found, {}, 'axe violations');
  await context.close();
});
