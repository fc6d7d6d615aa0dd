// End-to-end tests of the web client in a real browser. See harness.mjs for
// how to run them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { start, newPage, shot, signUpUI, uniqueEmail, apiCall, axeViolations, mailLink, PASSWORD } from './harness.mjs';

let env;
let user; // the account signed up in the first test
let main; // {context, page, problems} of that account's browser
let invite = null; // {link, email, org} made on the organization pages

before(async () => {
  env = await start();
});

after(async () => {
  if (main) await main.context.close().catch(() => {});
  if (env) await env.stop();
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const lastAssistant = (page) => page.locator('.msg-assistant').last();
const assistantText = (page) => lastAssistant(page).locator('.msg-body').innerText().catch(() => '');

function assertClean(problems, where) {
  assert.deepEqual(problems.csp, [], `CSP violations on ${where}`);
  assert.deepEqual(problems.errors, [], `page errors on ${where}`);
  assert.deepEqual(problems.dialogs, [], `dialogs fired on ${where}`);
}

/** Sends a message and samples the streaming reply's text until it completes. */
async function sendAndWatch(page, text, { until = 'complete', timeout = 60_000 } = {}) {
  const before = await page.locator('.msg-assistant').count();
  await page.locator('#composer-input').fill(text);
  await page.locator('#composer-input').press('Enter');
  await page.waitForFunction((n) => document.querySelectorAll('.msg-assistant').length > n, before, { timeout });
  const samples = [];
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    const s = await page.evaluate(() => {
      const els = document.querySelectorAll('.msg-assistant');
      const el = els[els.length - 1];
      return { len: el.querySelector('.msg-body').innerText.length, streaming: el.classList.contains('is-streaming') };
    });
    samples.push(s.len);
    if (until === 'complete' && !s.streaming && s.len > 0) break;
    if (typeof until === 'number' && s.len >= until) break;
    await sleep(25);
  }
  return samples;
}

test('sign up: errors for a weak password and a taken email, then success', async () => {
  main = await newPage(env);
  const { page } = main;
  await page.goto('/login');
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await shot(page, 'login');

  // Weak password: refused before any request.
  await page.goto('/signup');
  await page.getByLabel('Name').fill('Ada Lovelace');
  await page.getByLabel('Email').fill(uniqueEmail('weak'));
  await page.getByLabel('Password', { exact: true }).fill('short');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByText('Use at least 8 characters.').waitFor();
  // A common password: refused by the server, its detail shown.
  await page.getByLabel('Password', { exact: true }).fill('password');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.locator('.field-error:visible, .alert-error:visible').first().waitFor();
  await shot(page, 'signup-error');
  assert.equal(new URL(page.url()).pathname, '/signup');

  user = await signUpUI(page);
  assert.equal(new URL(page.url()).pathname, '/chat');
  await page.locator('#topbar').getByText('Ada Lovelace').waitFor();

  // Taken email, in another browser.
  const other = await newPage(env);
  await other.page.goto('/signup');
  await other.page.getByLabel('Name').fill('Someone');
  await other.page.getByLabel('Email').fill(user.email);
  await other.page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await other.page.getByRole('button', { name: 'Create account' }).click();
  await other.page.getByText('already exists').waitFor();
  // Wrong password on sign in.
  await other.page.goto('/login');
  await other.page.getByLabel('Email').fill(user.email);
  await other.page.getByLabel('Password', { exact: true }).fill('not the password at all');
  await other.page.getByRole('button', { name: 'Sign in' }).click();
  await other.page.locator('.alert-error').waitFor();
  assertClean(other.problems, 'signup/login errors');
  await other.context.close();
  assertClean(main.problems, 'signup');
});

test('chat with demo/echo: the reply arrives in pieces, then history survives a reload', async () => {
  const { page } = main;
  await page.goto('/chat');
  await page.locator('#model-select').selectOption('demo/echo');
  await shot(page, 'chat-empty');
  const message = 'Hello from the end-to-end test. This reply should arrive in several pieces, one after another, like a real model.';
  const samples = await sendAndWatch(page, message);
  const distinct = [...new Set(samples.filter((n) => n > 0))];
  assert.ok(distinct.length >= 3, `the reply text should grow in steps, saw lengths ${JSON.stringify(distinct)}`);
  for (let i = 1; i < distinct.length; i++) assert.ok(distinct[i] > distinct[i - 1], 'the text only grows');
  const reply = await assistantText(page);
  assert.ok(reply.includes('arrive in several pieces'), `echo reply: ${reply}`);
  const url = page.url();
  assert.match(new URL(url).pathname, /^\/chat\/.+/);
  // The new conversation is in the list.
  await page.locator('.conv-link[aria-current="page"]').waitFor();
  await shot(page, 'chat');

  await page.reload();
  await page.locator('.msg-user').first().waitFor();
  assert.equal(await page.locator('.msg-user').count(), 1);
  assert.equal(await page.locator('.msg-assistant').count(), 1);
  assert.ok((await page.locator('.msg-user .msg-body').innerText()).includes('Hello from the end-to-end test'));
  assert.ok((await assistantText(page)).includes('arrive in several pieces'));
  assert.equal(page.url(), url);
  assertClean(main.problems, 'chat');
});

test('stop a reply: it ends early, marked stopped, and stays so after a reload', async () => {
  const { page } = main;
  const words = Array.from({ length: 400 }, (_, i) => `word${i}`).join(' ');
  await sendAndWatch(page, words, { until: 40 });
  await page.getByRole('button', { name: 'Stop' }).click();
  await lastAssistant(page).getByText('Stopped').waitFor({ timeout: 15_000 });
  await page.getByRole('button', { name: 'Send' }).waitFor();
  const a = (await assistantText(page)).length;
  await sleep(600);
  const b = (await assistantText(page)).length;
  assert.equal(a, b, 'no more text after stopping');
  assert.ok(b < words.length, 'the reply was cut short');
  await page.reload();
  await lastAssistant(page).waitFor();
  await lastAssistant(page).getByText('Stopped').waitFor();
  assertClean(main.problems, 'stop');
});

test('a reply still streaming after a reload is resumed', async () => {
  const { page } = main;
  await page.goto('/chat');
  const words = Array.from({ length: 120 }, (_, i) => `item${i}`).join(' ');
  await sendAndWatch(page, words, { until: 60 });
  await page.reload();
  // It resumes and runs to the end, with the whole text exactly once.
  await lastAssistant(page).waitFor();
  await page.waitForFunction(() => {
    const els = document.querySelectorAll('.msg-assistant');
    const el = els[els.length - 1];
    return el && !el.classList.contains('is-streaming') && el.querySelector('.msg-body').innerText.includes('item119');
  }, null, { timeout: 60_000 });
  const text = await assistantText(page);
  assert.equal((text.match(/item0\b/g) || []).length, 1, 'no duplicated text after resuming');
  assert.ok(text.includes('item119'));
  assertClean(main.problems, 'resume');
});

test('model output with HTML and javascript: links renders inert', async () => {
  const { page } = main;
  await page.goto('/chat');
  await page.evaluate(() => { window.__xss = 0; });
  const payload = 'Inert check <img src=x onerror="window.__xss=1;alert(1)"> and [click me](javascript:alert(1)) and <a href="javascript:alert(2)">raw</a> <svg onload=alert(3)></svg> ![pic](data:image/svg+xml;base64,PHN2Zy8+) [ok](https://example.com/)';
  await sendAndWatch(page, payload);
  const found = await page.evaluate(() => ({
    onerror: document.querySelectorAll('[onerror]').length,
    onload: document.querySelectorAll('[onload]').length,
    jsLinks: [...document.querySelectorAll('a[href]')].filter((a) => /^\s*javascript:/i.test(a.getAttribute('href'))).length,
    dataUrls: [...document.querySelectorAll('.md [href], .md [src]')].filter((e) => /^\s*data:/i.test(e.getAttribute('href') || e.getAttribute('src'))).length,
    styles: document.querySelectorAll('.md [style]').length,
    xss: window.__xss,
    ok: [...document.querySelectorAll('.md a[href="https://example.com/"]')].map((a) => `${a.target}|${a.rel}`),
  }));
  await sleep(300);
  assert.equal(found.onerror, 0, 'no element keeps an onerror attribute');
  assert.equal(found.onload, 0);
  assert.equal(found.jsLinks, 0, 'no javascript: links');
  assert.equal(found.dataUrls, 0, 'no data: URLs in model output');
  assert.equal(found.styles, 0);
  assert.equal(found.xss, 0, 'no script ran');
  assert.deepEqual(found.ok.slice(-1), ['_blank|noopener noreferrer nofollow']);
  assert.deepEqual(main.problems.dialogs, [], 'no dialog fired');
  await shot(page, 'chat-inert');
  assertClean(main.problems, 'xss');
});

test('branches: edit a message, move between versions with the arrows, regenerate a reply', async () => {
  const { page } = main;
  await page.goto('/chat');
  await page.locator('#model-select').selectOption('demo/echo');
  await sendAndWatch(page, 'Branch test, first version.');
  // Named after its first reply, in the header and the sidebar.
  await page.locator('.conv-link[aria-current="page"]', { hasText: 'You said: Branch test, first version.' }).waitFor();
  const user = page.locator('.msg-user').first();
  await user.hover();
  await user.getByRole('button', { name: 'Edit' }).click();
  await page.getByLabel('Edit message').fill('Branch test, second version.');
  await page.getByRole('button', { name: 'Save and send' }).click();
  const pos = (loc) => loc.locator('.branch-pos');
  // The reply answers the edit, and the versions are counted once it is complete.
  await page.waitForFunction(() => {
    const a = [...document.querySelectorAll('.msg-assistant')].pop();
    return document.querySelector('.msg-user .branch-pos')?.textContent === '2 / 2'
      && a && !a.classList.contains('is-streaming') && a.querySelector('.msg-body').innerText.includes('second version');
  }, null, { timeout: 30_000 });
  assert.equal(await page.locator('.msg-user').count(), 1, 'the edit replaces the message it edits');

  await user.getByRole('button', { name: 'Previous version' }).click();
  await page.waitForFunction(() => document.querySelector('.msg-user .branch-pos')?.textContent === '1 / 2');
  await page.waitForFunction(() => document.querySelector('.msg-user .msg-body')?.innerText.includes('first version'));
  assert.ok((await assistantText(page)).includes('first version'), 'the first version comes back with its reply');
  await page.locator('.msg-user').first().getByRole('button', { name: 'Next version' }).click();
  await page.waitForFunction(() => document.querySelector('.msg-user .branch-pos')?.textContent === '2 / 2');

  await lastAssistant(page).hover();
  await lastAssistant(page).getByRole('button', { name: 'Regenerate' }).click();
  await page.waitForFunction(() => {
    const a = [...document.querySelectorAll('.msg-assistant')].pop();
    return a && a.querySelector('.branch-pos')?.textContent === '2 / 2' && !a.classList.contains('is-streaming');
  }, null, { timeout: 30_000 });
  assert.equal(await pos(lastAssistant(page)).innerText(), '2 / 2');
  assert.ok((await assistantText(page)).includes('second version'), 'the new reply answers the same message');
  await shot(page, 'chat-branches');
  await page.reload();
  await page.waitForFunction(() => [...document.querySelectorAll('.msg .branch-pos')].map((e) => e.textContent).join() === '2 / 2,2 / 2');
  assertClean(main.problems, 'branches');
});

test('presets: the picker lists them and choosing one sets up the conversation', async () => {
  const { page } = main;
  const login = await apiCall(env, 'POST', '/api/auth/login', {
    body: { email: user.email, password: user.password, refresh_token_in: 'body' },
  });
  const token = login.json.access_token;
  const made = await apiCall(env, 'POST', '/api/presets', {
    token, body: { name: 'Careful', model: 'demo/echo', system_prompt: 'Be careful.', temperature: 0.3, max_tokens: 400 },
  });
  assert.equal(made.status, 201, JSON.stringify(made.json));
  await page.goto('/chat');
  await page.locator('#preset-select').selectOption({ label: 'Careful (demo/echo)' });
  await shot(page, 'chat-presets');
  await sendAndWatch(page, 'A conversation set up by a preset.');
  const id = new URL(page.url()).pathname.split('/').pop();
  const conv = await apiCall(env, 'GET', `/api/conversations/${id}`, { token });
  assert.equal(conv.json.system_prompt, 'Be careful.');
  assert.equal(conv.json.temperature, 0.3);
  assert.equal(conv.json.max_tokens, 400);
  assertClean(main.problems, 'presets');
});

test('model settings: set on a conversation, kept after a reload, in effect, and a refusal shown at its field', async () => {
  const { page } = main;
  const login = await apiCall(env, 'POST', '/api/auth/login', {
    body: { email: user.email, password: user.password, refresh_token_in: 'body' },
  });
  const token = login.json.access_token;
  const settingsBtn = page.getByRole('button', { name: 'Settings', exact: true });
  const panel = page.locator('#conv-settings-panel');
  const summary = page.locator('#conv-settings-summary');
  const patched = () => page.waitForRequest((r) => r.method() === 'PATCH' && /\/api\/conversations\/[^/]+$/.test(r.url()));
  const saved = () => page.waitForResponse((r) => r.request().method() === 'PATCH' && /\/api\/conversations\/[^/]+$/.test(r.url()));
  await page.goto('/chat');
  await page.locator('#model-select').selectOption('demo/echo');
  await sendAndWatch(page, 'A conversation to tune.');
  const id = new URL(page.url()).pathname.split('/').pop();

  // Nothing set: the model's defaults, shown as empty fields.
  await settingsBtn.click();
  assert.equal(await settingsBtn.getAttribute('aria-expanded'), 'true');
  assert.equal(await page.getByLabel('Temperature').inputValue(), '');
  assert.equal(await page.getByLabel('Max output tokens').inputValue(), '');
  assert.equal(await page.getByLabel('Reasoning effort').inputValue(), '');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'conv-temperature', 'the panel takes focus');
  await page.getByLabel('Temperature').fill('0.3');
  await page.getByLabel('Max output tokens').fill('64');
  await shot(page, 'chat-settings');
  const first = patched();
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  assert.deepEqual(JSON.parse((await first).postData()), { temperature: 0.3, max_tokens: 64 }, 'only what changed is sent');
  await panel.waitFor({ state: 'hidden' });
  await summary.filter({ hasText: 'temp 0.3 · max 64 tokens' }).waitFor();
  let got = await apiCall(env, 'GET', `/api/conversations/${id}`, { token });
  assert.equal(got.json.temperature, 0.3);
  assert.equal(got.json.max_tokens, 64);
  assert.equal(got.json.reasoning_effort, null);

  // Kept after a reload; Escape closes the panel, focus back on its button.
  await page.reload();
  await summary.filter({ hasText: 'temp 0.3 · max 64 tokens' }).waitFor();
  await shot(page, 'chat-settings-summary');
  await settingsBtn.click();
  assert.equal(await page.getByLabel('Temperature').inputValue(), '0.3');
  assert.equal(await page.getByLabel('Max output tokens').inputValue(), '64');
  await page.keyboard.press('Escape');
  await panel.waitFor({ state: 'hidden' });
  assert.equal(await page.evaluate(() => document.activeElement.id), 'conv-settings');

  // In effect: demo/echo's reply stops at 64 tokens ("You said: " and 62 words).
  await sendAndWatch(page, Array.from({ length: 100 }, (_, i) => `tok${i}`).join(' '));
  const reply = await assistantText(page);
  assert.ok(reply.includes('tok61') && !reply.includes('tok62'), `cut at 64 tokens: ${reply}`);

  // Emptied: cleared (null), the other setting left alone.
  await settingsBtn.click();
  await page.getByLabel('Max output tokens').fill('');
  const clearing = patched();
  await page.getByLabel('Max output tokens').press('Enter');
  assert.deepEqual(JSON.parse((await clearing).postData()), { max_tokens: null });
  await summary.filter({ hasText: /^temp 0\.3$/ }).waitFor();
  got = await apiCall(env, 'GET', `/api/conversations/${id}`, { token });
  assert.equal(got.json.max_tokens, null);
  assert.equal(got.json.temperature, 0.3);

  // Out of the server's range: its reason at the field, nothing changed.
  await settingsBtn.click();
  await page.getByLabel('Temperature').fill('2.5');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  const tempErr = page.locator('#conv-temperature-err');
  await tempErr.filter({ hasText: 'temperature must be from 0 to 2' }).waitFor();
  assert.equal(await page.getByLabel('Temperature').getAttribute('aria-invalid'), 'true');
  assert.equal((await apiCall(env, 'GET', `/api/conversations/${id}`, { token })).json.temperature, 0.3);
  await page.getByRole('button', { name: 'Cancel' }).click();
  await summary.filter({ hasText: /^temp 0\.3$/ }).waitFor();

  // On an Anthropic model (no key needed to set it up), a temperature above 1 is refused there.
  const made = await apiCall(env, 'POST', '/api/conversations', { token, body: { title: 'Anthropic settings', model: 'anthropic/claude-haiku-4-5' } });
  assert.equal(made.status, 201, JSON.stringify(made.json));
  await page.goto(`/chat/${made.json.id}`);
  await page.locator('#model-select').filter({ has: page.locator('option[value="anthropic/claude-haiku-4-5"]') }).waitFor();
  assert.equal(await page.locator('#model-select').inputValue(), 'anthropic/claude-haiku-4-5');
  await settingsBtn.click();
  await page.getByLabel('Temperature').fill('1.5');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await tempErr.filter({ hasText: /Anthropic/ }).waitFor();
  await shot(page, 'chat-settings-error');
  await page.keyboard.press('Escape');
  // On demo/echo 1.5 is fine; switching back to Anthropic then is refused at the temperature.
  let change = saved();
  await page.locator('#model-select').selectOption('demo/echo');
  assert.equal((await change).status(), 200);
  await settingsBtn.click();
  await page.getByLabel('Temperature').fill('1.5');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await summary.filter({ hasText: /^temp 1\.5$/ }).waitFor();
  change = saved();
  await page.locator('#model-select').selectOption('anthropic/claude-haiku-4-5');
  assert.equal((await change).status(), 400);
  await tempErr.filter({ hasText: /Anthropic/ }).waitFor();
  await panel.getByText('change or clear this setting to use anthropic/claude-haiku-4-5').waitFor();
  assert.equal(await page.locator('#model-select').inputValue(), 'demo/echo', 'the model stays as it was');
  // Cleared, the switch goes through.
  await page.getByLabel('Temperature').fill('');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await panel.waitFor({ state: 'hidden' });
  assert.equal(await summary.isVisible(), false, 'nothing set, no summary');
  change = saved();
  await page.locator('#model-select').selectOption('anthropic/claude-haiku-4-5');
  assert.equal((await change).status(), 200);
  got = await apiCall(env, 'GET', `/api/conversations/${made.json.id}`, { token });
  assert.equal(got.json.model, 'anthropic/claude-haiku-4-5');
  assert.equal(got.json.temperature, null);
  assertClean(main.problems, 'model settings');
});

test('conversations: rename and delete', async () => {
  const { page } = main;
  await page.goto('/chat');
  await sendAndWatch(page, 'A conversation to rename and delete.');
  await page.getByRole('button', { name: 'Rename' }).click();
  const dlg = page.getByRole('dialog', { name: 'Rename conversation' });
  await dlg.getByLabel('Title').fill('Renamed by e2e');
  await dlg.getByRole('button', { name: 'Save' }).click();
  await page.getByRole('heading', { name: 'Renamed by e2e' }).waitFor();
  await page.locator('.conv-link', { hasText: 'Renamed by e2e' }).waitFor();
  await page.getByRole('button', { name: 'Delete' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
  await page.waitForURL('**/chat');
  await page.locator('.conv-link', { hasText: 'Renamed by e2e' }).waitFor({ state: 'detached' });
  assertClean(main.problems, 'rename/delete');
});

test('API key: created, shown once, then only its prefix', async () => {
  const { page } = main;
  const keyName = `e2e key ${Date.now().toString(36)}`;
  await page.goto('/settings/api-keys');
  await page.getByLabel('Name').fill(keyName);
  await page.getByRole('button', { name: 'Create key' }).click();
  const keyEl = page.locator('#new-key-value');
  await keyEl.waitFor();
  const key = (await keyEl.innerText()).trim();
  assert.match(key, /^cg_[A-Za-z0-9]{32,}/);
  await page.getByRole('button', { name: 'Copy key' }).waitFor();
  await page.getByRole('cell', { name: keyName, exact: true }).waitFor();
  await shot(page, 'settings-api-keys');
  // The key works against the API.
  const me = await apiCall(env, 'GET', '/v1/models', { token: key });
  assert.equal(me.status, 200, 'the new key authenticates');
  await page.reload();
  await page.getByRole('cell', { name: keyName, exact: true }).waitFor();
  const html = await page.content();
  assert.ok(!html.includes(key), 'the secret is never shown again');
  assertClean(main.problems, 'api keys');
});

test('sessions: another session is revoked from the UI', async () => {
  const { page } = main;
  const login = await apiCall(env, 'POST', '/api/auth/login', {
    body: { email: user.email, password: user.password, refresh_token_in: 'body' },
    headers: { 'user-agent': 'e2e-second-device/1.0' },
  });
  assert.equal(login.status, 200, JSON.stringify(login.json));
  const second = login.json.access_token;
  assert.equal((await apiCall(env, 'GET', '/api/me', { token: second })).status, 200);

  await page.goto('/settings/security');
  const revoke = page.getByRole('button', { name: /^Revoke session/ });
  await revoke.first().waitFor();
  const rowsBefore = await page.locator('.table tbody tr').count();
  assert.ok(rowsBefore >= 2, 'the second session is listed');
  await page.getByText('This device').waitFor();
  await shot(page, 'settings-sessions');
  await revoke.first().click();
  await page.waitForFunction((n) => document.querySelectorAll('.table tbody tr').length === n - 1, rowsBefore);
  const after = await apiCall(env, 'GET', '/api/me', { token: second });
  assert.equal(after.status, 401, 'the revoked session no longer works');
  const refreshed = await apiCall(env, 'POST', '/api/auth/refresh', { body: { refresh_token: login.json.refresh_token, refresh_token_in: 'body' } });
  assert.equal(refreshed.status, 401, 'nor does its refresh token');
  // This session still works.
  await page.goto('/settings/profile');
  await page.getByLabel('Name').waitFor();
  assertClean(main.problems, 'sessions');
});

test('the conversation list loads more as it scrolls', async () => {
  const { page } = main;
  const login = await apiCall(env, 'POST', '/api/auth/login', {
    body: { email: user.email, password: user.password, refresh_token_in: 'body' },
  });
  assert.equal(login.status, 200);
  const token = login.json.access_token;
  for (let i = 0; i < 26; i++) {
    const r = await apiCall(env, 'POST', '/api/conversations', { token, body: { title: `Scroll test ${String(i).padStart(2, '0')}`, model: 'demo/echo' } });
    assert.equal(r.status, 201, JSON.stringify(r.json));
  }
  await apiCall(env, 'POST', '/api/auth/logout', { token });
  await page.goto('/chat');
  await page.locator('.conv-link', { hasText: 'Scroll test 25' }).waitFor();
  const first = await page.locator('.conv-link').count();
  assert.ok(first <= 24, `one page at first (${first})`);
  await page.locator('.conv-link').last().scrollIntoViewIfNeeded();
  await page.locator('.conv-link', { hasText: 'Scroll test 00' }).waitFor();
  assert.ok(await page.locator('.conv-link').count() >= 26);
  assertClean(main.problems, 'infinite scroll');
});

test('settings and organization pages render (screenshots)', async () => {
  const { page } = main;
  await page.goto('/settings/profile');
  await page.getByLabel('Name').waitFor();
  await shot(page, 'settings-profile');
  await page.goto('/settings/provider-keys');
  await page.getByRole('heading', { name: 'Saved provider keys' }).waitFor();
  await page.getByText('No provider keys.').waitFor();
  await page.getByLabel('Provider', { exact: true }).selectOption('openai');
  await page.getByLabel('API key', { exact: true }).fill('sk-test-e2e-0000000000wxyz');
  await page.getByRole('button', { name: 'Save key' }).click();
  await page.getByRole('cell', { name: /wxyz/ }).waitFor();
  assert.ok(!(await page.content()).includes('sk-test-e2e-0000000000wxyz'), 'the provider key is shown masked only');
  await shot(page, 'settings-provider-keys');
  await page.getByRole('button', { name: 'Remove OpenAI key' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Remove' }).click();
  await page.getByText('No provider keys.').waitFor();

  await page.goto('/orgs');
  const orgLink = page.locator('.org-link').first();
  await orgLink.waitFor();
  await shot(page, 'orgs');
  await orgLink.click();
  await page.getByRole('heading', { name: 'Members' }).waitFor();
  await page.locator('.table').waitFor();
  await shot(page, 'org-members');

  await page.getByRole('link', { name: 'Invitations' }).click();
  const inviteeEmail = uniqueEmail('invitee');
  await page.getByLabel('Email').fill(inviteeEmail);
  await page.getByRole('button', { name: 'Create invitation' }).click();
  const link = page.locator('#invite-link');
  await link.waitFor();
  assert.match(await link.innerText(), /\/invite\?token=/);
  invite = { link: await link.innerText(), email: inviteeEmail, org: await page.locator('h1').innerText() };
  await shot(page, 'org-invitations');
  // A second invitation, revoked.
  const revokedEmail = uniqueEmail('revoked');
  await page.getByLabel('Email').fill(revokedEmail);
  await page.getByRole('button', { name: 'Create invitation' }).click();
  await page.getByRole('cell', { name: revokedEmail, exact: true }).waitFor();
  await page.getByRole('button', { name: `Revoke invitation for ${revokedEmail}` }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
  await page.getByRole('cell', { name: revokedEmail, exact: true }).waitFor({ state: 'detached' });
  await page.getByRole('cell', { name: inviteeEmail, exact: true }).waitFor();

  await page.getByRole('link', { name: 'Settings' }).last().click();
  await page.getByLabel('Monthly token limit').waitFor();
  await page.getByLabel('Add a model').fill('demo/echo');
  await page.getByRole('button', { name: 'Add', exact: true }).click();
  await page.getByLabel('Add a model').fill('openai/gpt-4o-mini');
  await page.getByLabel('Add a model').press('Enter');
  await page.getByLabel('Monthly token limit').fill('2000000');
  await page.getByLabel('Custom instructions').fill('Answer briefly.');
  await page.getByLabel('Keep conversations for (days)').fill('90');
  await page.getByRole('button', { name: 'Save settings' }).click();
  await page.getByText('Settings saved').first().waitFor();
  await page.reload();
  await page.getByLabel('Monthly token limit').waitFor();
  assert.equal(await page.getByLabel('Monthly token limit').inputValue(), '2000000');
  assert.equal(await page.getByLabel('Custom instructions').inputValue(), 'Answer briefly.');
  assert.deepEqual(await page.locator('.chip > span').allInnerTexts(), ['demo/echo', 'openai/gpt-4o-mini']);
  assert.equal(await page.getByLabel('Keep conversations for (days)').inputValue(), '90');
  await shot(page, 'org-settings');
  // The owner downloads the organization's export.
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Download export' }).click(),
  ]);
  assert.match(download.suggestedFilename(), /^chatgate-org_[0-9a-z]+-\d{4}-\d{2}-\d{2}\.json$/);
  const exported = JSON.parse(await readFile(await download.path(), 'utf8'));
  assert.equal(exported.format, 'chatgate.org-export');
  assert.equal(exported.org.settings.conversation_retention_days, 90);
  assert.equal(exported.next_cursor, null);
  assert.ok(exported.conversations.length >= 1, 'the conversations of the earlier tests');

  await page.getByRole('link', { name: 'Usage' }).click();
  await page.locator('.stats .stat').first().waitFor({ timeout: 15_000 });
  await page.locator('.chart .uplot, .alert-error, .empty').first().waitFor({ timeout: 15_000 });
  await shot(page, 'org-usage');
  assertClean(main.problems, 'org pages');
});

test('an invitation link is accepted by a new account', async () => {
  assert.ok(invite, 'made by the previous test');
  const guest = await newPage(env);
  const { page } = guest;
  await page.goto(new URL(invite.link).pathname + new URL(invite.link).search);
  await page.getByRole('link', { name: 'Create an account' }).click();
  await page.getByLabel('Name').fill('Invited Person');
  await page.getByLabel('Email').fill(invite.email);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.waitForURL(/\/invite\?token=/);
  // The invitation names an address: it is accepted once that address is confirmed.
  await page.getByRole('heading', { name: 'Confirm your email first' }).waitFor();
  await page.goto(await mailLink(env, invite.email, 'Confirm your email address', '/verify-email'));
  await page.getByText('Your email address is confirmed').waitFor();
  await page.goto(new URL(invite.link).pathname + new URL(invite.link).search);
  await shot(page, 'invite-accept');
  await page.getByRole('button', { name: 'Accept invitation' }).click();
  await page.waitForURL(/\/orgs/);
  await page.getByRole('heading', { name: invite.org }).or(page.getByRole('link', { name: new RegExp(invite.org) })).first().waitFor();
  assertClean(guest.problems, 'invitation');
  await guest.context.close();
});

test('phone-sized screen and dark mode', async () => {
  const phone = await newPage(env, { viewport: { width: 390, height: 800 }, colorScheme: 'dark' });
  await signUpUI(phone.page, { name: 'Grace Hopper' });
  await sendAndWatch(phone.page, 'Hello from a **phone**.\n\n- one\n- two\n\n`code`');
  await shot(phone.page, 'phone-chat-dark');
  await phone.page.getByRole('button', { name: 'Conversations' }).click();
  await phone.page.locator('.sidebar-open').waitFor();
  await sleep(400); // the slide-in transition
  await shot(phone.page, 'phone-sidebar-dark');
  await phone.page.keyboard.press('Escape');
  await phone.page.goto('/settings/security');
  await phone.page.locator('.table').first().waitFor();
  await shot(phone.page, 'phone-settings-dark');
  assertClean(phone.problems, 'phone');
  await phone.context.close();
});

for (const colorScheme of ['light', 'dark']) {
  test(`accessibility (axe, WCAG 2.1 AA) in ${colorScheme} mode`, async () => {
    // axe is injected as a script, so this context bypasses the CSP.
    const a = await newPage(env, { colorScheme, bypassCSP: true });
    const { page } = a;
    const found = {};
    const check = async (name) => {
      const v = await axeViolations(page);
      if (v.length) found[name] = v;
    };
    await page.goto('/login');
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await check('login');
    await page.goto('/signup');
    await page.getByRole('button', { name: 'Create account' }).click(); // shows the field errors
    await page.locator('.field-error:visible').first().waitFor();
    await check('signup-errors');
    await signUpUI(page, { name: `A11y ${colorScheme}` });
    await check('chat-empty');
    await sendAndWatch(page, 'Accessibility **check** with a [link](https://example.com/) and `code`.');
    await check('chat');
    await page.getByRole('button', { name: 'Settings', exact: true }).click();
    await page.getByLabel('Temperature').waitFor();
    await check('chat-settings');
    await page.keyboard.press('Escape');
    await page.goto('/settings/security');
    await page.locator('.table').first().waitFor();
    await check('settings-security');
    await page.goto('/settings/api-keys');
    await page.getByRole('heading', { name: 'Your API keys' }).waitFor();
    await page.locator('.card .empty, .card .table, .card .alert').last().waitFor();
    await check('settings-api-keys');
    await page.goto('/orgs');
    await page.locator('.org-link, .empty, .alert').first().waitFor();
    await check('orgs');
    await page.locator('.org-link').first().click();
    await page.locator('.table').first().waitFor();
    await check('org-members');
    await page.getByRole('link', { name: 'Settings' }).last().click();
    await page.getByLabel('Monthly token limit').waitFor();
    await check('org-settings');
    await page.getByRole('link', { name: 'Usage' }).click();
    await page.locator('.stats .stat, .alert-error').first().waitFor();
    await check('org-usage');
    assert.deepEqual(found, {}, 'axe violations');
    await a.context.close();
  });
}

test('password change: a wrong current password is an error, not a sign-out', async () => {
  const { page } = main;
  await page.goto('/settings/security');
  await page.getByLabel('Current password', { exact: true }).fill('definitely not it');
  await page.getByLabel('New password', { exact: true }).fill('a brand new passphrase 7');
  await page.getByRole('button', { name: 'Change password' }).click();
  await page.getByText('That is not your current password.').waitFor();
  assert.equal(new URL(page.url()).pathname, '/settings/security');
  await page.getByLabel('Current password', { exact: true }).fill(user.password);
  await page.getByRole('button', { name: 'Change password' }).click();
  await page.getByText('Password changed.').waitFor();
  user.password = 'a brand new passphrase 7';
  const login = await apiCall(env, 'POST', '/api/auth/login', { body: { email: user.email, password: user.password, refresh_token_in: 'body' } });
  assert.equal(login.status, 200, 'the new password works');
  await apiCall(env, 'POST', '/api/auth/logout', { token: login.json.access_token });
  assertClean(main.problems, 'password');
});

test('tabs share one session: a new tab borrows the token, reloading tabs refresh once', async () => {
  const { page, context } = main;
  await page.goto('/chat');
  await page.locator('#composer-input').waitFor();
  const refreshes = [];
  const onResponse = (r) => {
    if (r.url().endsWith('/api/auth/refresh')) refreshes.push(r.status());
  };
  context.on('response', onResponse);
  const page2 = await context.newPage();
  await page2.goto('/chat');
  await page2.locator('#composer-input').waitFor();
  assert.deepEqual(refreshes, [], 'the second tab got its token from the first, without a refresh');

  // Both tabs start at once: the refresh runs under a Web Lock, so the
  // rotating refresh token is presented once, never twice.
  await Promise.all([page.reload(), page2.reload()]);
  await Promise.all([page.locator('#composer-input').waitFor(), page2.locator('#composer-input').waitFor()]);
  // One refresh at most (none when a tab still open hands over its token).
  assert.ok(refreshes.length <= 1, `at most one refresh for two tabs, saw ${JSON.stringify(refreshes)}`);
  assert.ok(refreshes.every((st) => st === 200));
  // The session is intact (a reused refresh token would have revoked it).
  await page2.close();
  const n = refreshes.length;
  await page.reload();
  await page.locator('#composer-input').waitFor();
  assert.deepEqual(refreshes.slice(n), [200], 'a lone tab refreshes with the cookie');
  context.off('response', onResponse);
  assertClean(main.problems, 'tabs');
});

test('a session revoked elsewhere: the next request signs out, signing in returns to the page', async () => {
  const { page } = main;
  await page.goto('/settings/profile');
  await page.getByLabel('Name').waitFor();
  // "Sign out everywhere" from another device.
  const other = await apiCall(env, 'POST', '/api/auth/login', { body: { email: user.email, password: user.password, refresh_token_in: 'body' } });
  assert.equal(other.status, 200);
  assert.equal((await apiCall(env, 'POST', '/api/auth/logout-all', { token: other.json.access_token })).status, 204);
  // The access token is refused, the one refresh attempt too: back to sign in.
  await page.locator('.subnav').getByRole('link', { name: 'Security' }).click();
  await page.waitForURL(/\/login\?reason=expired/);
  await page.getByText('Your session has ended').waitFor();
  await page.getByLabel('Email').fill(user.email);
  await page.getByLabel('Password', { exact: true }).fill(user.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL('**/settings/security');
  await page.locator('.table').first().waitFor();
  assertClean(main.problems, 'expired session');
});

test('sign out ends the session', async () => {
  const { page } = main;
  await page.goto('/chat');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL('**/login');
  await page.reload();
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await page.goto('/settings/profile');
  await page.waitForURL(/\/login/);
  assertClean(main.problems, 'sign out');
});

test('a crafted next= never leaves the site nor strands the user on the sign-in page', async () => {
  const fresh = await newPage(env);
  const { page, problems } = fresh;
  const onChat = (u) => u.origin === new URL(env.base).origin && u.pathname === '/chat';
  try {
    const account = await signUpUI(page);
    // Each resolves to another origin: a backslash, a tab or newline the URL parser drops,
    // a protocol-relative or absolute URL, another scheme. The default page instead.
    const crafted = ['/\\evil.example/x', '/%5Cevil.example/x', '/%09/evil.example/x', '/%0A/evil.example/x',
      '%2F%2Fevil.example/x', 'https://evil.example/x', 'javascript:alert(1)'];
    for (const next of crafted) {
      await page.goto(`/login?next=${next}`);
      await page.waitForURL(onChat, { timeout: 5_000 });
      await page.locator('#composer-input').waitFor();
    }
    // A same-origin next is followed with its query and hash.
    await page.goto(`/login?next=${encodeURIComponent('/settings/profile?x=1#top')}`);
    await page.waitForURL((u) => u.pathname === '/settings/profile' && u.search === '?x=1' && u.hash === '#top');
    // And signing in (not only being signed in) applies the same rule.
    await page.goto('/chat');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL('**/login');
    await page.goto('/login?next=/\\evil.example/x');
    await page.getByLabel('Email').fill(account.email);
    await page.getByLabel('Password', { exact: true }).fill(account.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(onChat, { timeout: 5_000 });
    assertClean(problems, 'crafted next');
  } finally {
    await fresh.context.close().catch(() => {});
  }
});
