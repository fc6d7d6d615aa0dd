// The web client's images, files and reasoning, in headless Chromium against
// demo/echo: an image attached with the file picker or pasted, its thumbnail, a
// PDF dropped (uploaded to POST /api/files, shown as a chip), what cannot be
// sent said before sending, the sent image and file shown (and fetched back
// after a reload), and a reply's reasoning in its own collapsible section. See
// harness.mjs for how to run it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { start, newPage, shot, signUpUI, axeViolations } from './harness.mjs';

// A 1×1 PNG (70 bytes).
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==', 'base64');

let env;
let main; // {context, page, problems}

before(async () => {
  env = await start();
  main = await newPage(env);
  await signUpUI(main.page);
  await main.page.locator('#model-select').selectOption('demo/echo');
});

after(async () => {
  if (main) await main.context.close().catch(() => {});
  if (env) await env.stop();
});

function assertClean(problems, where) {
  assert.deepEqual(problems.csp, [], `CSP violations on ${where}`);
  assert.deepEqual(problems.errors, [], `page errors on ${where}`);
  assert.deepEqual(problems.dialogs, [], `dialogs fired on ${where}`);
}

const lastAssistant = (page) => page.locator('.msg-assistant').last();
const lastUser = (page) => page.locator('.msg-user').last();

/** Waits for the last reply to finish; returns its text. */
async function replyDone(page, count) {
  await page.waitForFunction((n) => {
    const els = document.querySelectorAll('.msg-assistant');
    return els.length >= n && !els[els.length - 1].classList.contains('is-streaming')
      && els[els.length - 1].querySelector('.msg-body').innerText.length > 0;
  }, count, { timeout: 30_000 });
  return lastAssistant(page).locator('.msg-body').innerText();
}

/** Whether an <img> shows a decoded image. */
const loaded = (img) => img.evaluate((el) => el.complete && el.naturalWidth > 0);

test('an image picked with the file input is shown, sent, described by the model, and back after a reload', async () => {
  const { page, problems } = main;
  const attach = page.getByRole('button', { name: 'Attach file' });
  await attach.waitFor();
  // What cannot be sent is said at once, and nothing is attached.
  const big = Buffer.alloc(3 * 1024 * 1024 + 1);
  PNG.copy(big);
  await page.locator('#attach-input').setInputFiles([
    { name: 'huge.png', mimeType: 'image/png', buffer: big },
    { name: 'tool.bin', mimeType: 'application/octet-stream', buffer: Buffer.from('7f454c4602010100000000000000', 'hex') },
  ]);
  const alert = page.locator('.composer .alert-error');
  await alert.waitFor();
  assert.match(await alert.innerText(), /huge\.png is 3\.0 MB; an image may be at most 3\.0 MB/);
  assert.match(await alert.innerText(), /tool\.bin: the file is not an image \(PNG, JPEG, GIF, WebP\), a PDF or UTF-8 text/);
  assert.equal(await page.locator('.pending-image').count(), 0);

  // Two images, one removed again.
  await page.locator('#attach-input').setInputFiles([
    { name: 'dot.png', mimeType: 'image/png', buffer: PNG },
    { name: 'other.png', mimeType: 'image/png', buffer: PNG },
  ]);
  await page.locator('.pending-image').nth(1).waitFor();
  assert.ok(await alert.isHidden(), 'the error goes once good images are attached');
  assert.ok(await loaded(page.locator('.pending-image img').first()), 'the thumbnail shows');
  await page.getByRole('button', { name: 'Remove other.png' }).click();
  assert.equal(await page.locator('.pending-image').count(), 1);
  assert.match(await page.locator('.pending-image').innerText(), /dot\.png\s+PNG, 70 B/);
  await shot(page, 'attach-pending');

  await page.locator('#composer-input').fill('What is in this picture?');
  await page.locator('#composer-input').press('Enter');
  await lastUser(page).locator('img.msg-image').waitFor();
  assert.equal(await page.locator('.pending-image').count(), 0, 'sent: nothing pending');
  const reply = await replyDone(page, 1);
  assert.match(reply, /You said: What is in this picture\?/);
  assert.match(reply, /You sent 1 image \(image\/png\)\./);
  assert.ok(await loaded(lastUser(page).locator('img.msg-image')));
  await shot(page, 'attach-sent');

  // After a reload the image comes from the server (with the session's token).
  await page.reload();
  const img = lastUser(page).locator('img.msg-image');
  await img.waitFor();
  await page.waitForFunction(() => {
    const el = document.querySelector('.msg-user img.msg-image');
    return el && el.src.startsWith('data:image/png;base64,') && el.naturalWidth > 0;
  });
  assert.equal(await img.getAttribute('alt'), 'Image 1 of 1 (PNG, 70 B)');
  assert.match(await lastUser(page).locator('.msg-body').innerText(), /What is in this picture\?/);
  assertClean(problems, 'attach and send');
});

test('an image pasted into the composer is attached, and may be sent without text', async () => {
  const { page, problems } = main;
  await page.locator('#composer-input').focus();
  await page.evaluate((bytes) => {
    const data = new DataTransfer();
    data.items.add(new File([new Uint8Array(bytes)], 'pasted.png', { type: 'image/png' }));
    document.querySelector('#composer-input').dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
  }, [...PNG]);
  await page.locator('.pending-image').filter({ hasText: 'pasted.png' }).waitFor();
  assert.equal(await page.locator('#composer-input').inputValue(), '');
  const before = await page.locator('.msg-assistant').count();
  await page.getByRole('button', { name: 'Send' }).click();
  const reply = await replyDone(page, before + 1);
  assert.match(reply, /^You sent 1 image \(image\/png\)\./);
  assert.ok(await lastUser(page).locator('.msg-body').isHidden(), 'no empty bubble for an image alone');
  assertClean(problems, 'paste');
});

test('a PDF dropped on the composer is uploaded, shown as a chip, sent as a document, and back after a reload', async () => {
  const { page, problems } = main;
  const pdf = Buffer.from('%PDF-1.4\n% chatgate\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n');
  await page.evaluate((bytes) => {
    const data = new DataTransfer();
    data.items.add(new File([new Uint8Array(bytes)], 'report.pdf', { type: 'application/pdf' }));
    const composer = document.querySelector('.composer');
    composer.dispatchEvent(new DragEvent('dragover', { dataTransfer: data, bubbles: true, cancelable: true }));
    composer.dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));
  }, [...pdf]);
  const chip = page.locator('.pending-images .file-chip');
  await chip.waitFor();
  assert.match(await chip.innerText(), /report\.pdf\s+PDF, 59 B/);
  await shot(page, 'attach-pdf-pending');
  const before = await page.locator('.msg-assistant').count();
  await page.locator('#composer-input').fill('Summarise the report');
  await page.locator('#composer-input').press('Enter');
  const reply = await replyDone(page, before + 1);
  assert.match(reply, /You sent 1 document \(application\/pdf\)\./);
  assert.equal(await page.locator('.pending-images .file-chip').count(), 0, 'sent: nothing pending');
  await lastUser(page).locator('.file-chip').waitFor();
  await shot(page, 'attach-pdf-sent');

  // After a reload the file is listed with the message; opening it fetches it with the token.
  await page.reload();
  const sent = lastUser(page).locator('.file-chip');
  await sent.waitFor();
  assert.match(await sent.innerText(), /report\.pdf/);
  const download = page.waitForEvent('download');
  await sent.getByRole('button', { name: 'report.pdf' }).click();
  assert.equal((await download).suggestedFilename(), 'report.pdf');
  assertClean(problems, 'drop a PDF');
});

test('a share link that includes attachments shows the images and the PDF to a stranger', async () => {
  const { page, problems } = main;
  // The conversation of the tests above: pictures and a PDF.
  await page.getByRole('button', { name: 'Share', exact: true }).click();
  await page.getByLabel('Include images and files').check();
  await shot(page, 'attach-share-ask');
  await page.getByRole('button', { name: 'Create link' }).click();
  const url = await page.locator('#share-url').inputValue();
  await page.getByRole('button', { name: 'Done' }).click();

  const stranger = await newPage(env);
  try {
    await stranger.page.goto(url);
    const pdf = stranger.page.locator('.share-messages a.file-chip', { hasText: 'report.pdf' });
    await pdf.waitFor();
    const images = stranger.page.locator('.share-messages img.msg-image');
    await images.first().waitFor();
    await stranger.page.waitForFunction(() => [...document.querySelectorAll('.share-messages img.msg-image')]
      .every((el) => el.complete && el.naturalWidth > 0));
    assert.ok(await images.count() >= 2, 'the picked and the pasted image');
    const href = await pdf.getAttribute('href');
    const resp = await stranger.page.request.get(href);
    assert.equal(resp.status(), 200);
    assert.match((await resp.body()).toString(), /^%PDF-1\.4/);
    await shot(stranger.page, 'attach-share-page');
    assertClean(stranger.problems, 'the share page with attachments');
  } finally {
    await stranger.context.close();
  }
  assertClean(problems, 'share with attachments');
});

test('a code block in a reply is highlighted, and its copy button copies the code', async () => {
  const { page, context, problems } = main;
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: env.base });
  const before = await page.locator('.msg-assistant').count();
  const code = 'fn main() {\n    let answer = 42; // the answer\n    println!("{answer}");\n}';
  await page.locator('#composer-input').fill(`Here:\n\`\`\`rust\n${code}\n\`\`\``);
  await page.locator('#composer-input').press('Enter');
  await replyDone(page, before + 1);
  const block = lastAssistant(page).locator('.code-block');
  await block.waitFor();
  assert.equal(await block.locator('.code-lang').innerText(), 'rust');
  assert.equal(await block.locator('code.hljs .hljs-keyword').first().innerText(), 'fn');
  assert.equal(await block.locator('code.hljs .hljs-number').first().innerText(), '42');
  assert.match(await block.locator('code.hljs .hljs-comment').first().innerText(), /the answer/);
  // Coloured by the stylesheet (no inline styles: the CSP's style-src holds).
  const colours = await block.evaluate((el) => [el.querySelector('.hljs-keyword'), el.querySelector('.hljs-number')]
    .map((s) => getComputedStyle(s).color));
  assert.notEqual(colours[0], colours[1], 'keywords and numbers differ in colour');
  assert.equal(await block.locator('[style]').count(), 0);
  await block.getByRole('button', { name: 'Copy code' }).click();
  await block.getByRole('button', { name: 'Copied' }).waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), code);
  await block.scrollIntoViewIfNeeded();
  await shot(page, 'code-highlighted');
  assertClean(problems, 'a code block');
});

test('older messages load page by page as the reader scrolls up, with the API\'s cursor', async () => {
  const { page, problems } = main;
  // The server's pages, newest first: 170 messages in pages of 50 (the client asks for 50).
  const message = (seq) => ({
    id: `msg_fake${seq}`, seq, role: seq % 2 ? 'user' : 'assistant', content: `message ${seq}`, attachments: [],
    reasoning: null, model: seq % 2 ? null : 'demo/echo', status: 'complete', usage: null,
    created_at: new Date(Date.UTC(2026, 0, 1, 0, seq)).toISOString(),
  });
  const pages = { '': [170, 121, 'p2'], p2: [120, 71, 'p3'], p3: [70, 1, null] };
  const asked = [];
  await page.route(/\/api\/conversations\/[^/]+\/messages\?/, (route) => {
    const cursor = new URL(route.request().url()).searchParams.get('cursor') || '';
    asked.push(cursor);
    const [from, to, next] = pages[cursor];
    const items = [];
    for (let s = from; s >= to; s -= 1) items.push(message(s));
    route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ items, next_cursor: next }) });
  });
  try {
    await page.reload();
    const msgs = page.locator('#messages .msg');
    await page.waitForFunction(() => document.querySelectorAll('#messages .msg').length === 50);
    assert.deepEqual(asked, [''], 'only the newest page on opening');
    assert.equal(await msgs.last().locator('.msg-body').innerText(), 'message 170');
    const scroller = page.locator('.messages-scroll');
    for (const [count, first] of [[100, 'message 71'], [170, 'message 1']]) {
      await scroller.evaluate((el) => { el.scrollTop = 0; });
      await page.waitForFunction((n) => document.querySelectorAll('#messages .msg').length === n, count);
      assert.equal(await msgs.first().locator('.msg-body').innerText(), first);
    }
    assert.deepEqual(asked, ['', 'p2', 'p3']);
    assert.equal(await page.locator('button[data-older]').count(), 0, 'no more pages: no button');
    assert.equal(await page.evaluate(() => !!(document.activeElement && document.activeElement.closest('#messages .msg'))),
      false, 'loading as the reader scrolls leaves the focus where it was');
  } finally {
    await page.unroute(/\/api\/conversations\/[^/]+\/messages\?/);
  }
  await page.reload();
  await page.locator('#messages .msg').first().waitFor();
  assertClean(problems, 'paging');
});

test('a reply that reasons shows its reasoning, open while it streams and folded once the answer starts', async () => {
  const { page, problems } = main;
  await page.getByLabel('Reasoning').selectOption('low');
  const before = await page.locator('.msg-assistant').count();
  await page.locator('#composer-input').fill('think about the weather');
  await page.locator('#composer-input').press('Enter');
  // Live: open, marked as in progress, before any answer text.
  const live = page.locator('.msg-assistant .msg-reasoning.is-thinking[open]');
  await live.waitFor({ timeout: 15_000 });
  assert.equal(await live.locator('summary').innerText(), 'Reasoning…');
  await shot(page, 'reasoning-live');
  await replyDone(page, before + 1);
  const box = lastAssistant(page).locator('.msg-reasoning');
  assert.equal(await box.evaluate((d) => d.open), false, 'folded once the answer came');
  assert.equal(await box.locator('summary').innerText(), 'Reasoning');
  await box.locator('summary').click();
  assert.equal(await box.locator('.reasoning-body').innerText(), 'Thinking about: think about the weather');
  await shot(page, 'reasoning-open');
  // The request carried it only because it was set; the plain reply before has none.
  assert.equal(await page.locator('.msg-assistant').first().locator('.msg-reasoning').isHidden(), true);

  // Kept with the reply: after a reload, folded.
  await page.reload();
  const stored = lastAssistant(page).locator('.msg-reasoning');
  await stored.waitFor();
  assert.equal(await stored.evaluate((d) => d.open), false);
  assert.equal(await page.getByLabel('Reasoning').inputValue(), 'low', 'the choice is remembered');
  await page.getByLabel('Reasoning').selectOption('');
  assertClean(problems, 'reasoning');
});

test('the composer with an image attached and a reply with reasoning pass axe (WCAG 2.1 AA)', async () => {
  const a = await newPage(env, { bypassCSP: true });
  try {
    const { page } = a;
    await signUpUI(page);
    await page.locator('#model-select').selectOption('demo/echo');
    await page.getByLabel('Reasoning').selectOption('medium');
    await page.locator('#attach-input').setInputFiles([{ name: 'dot.png', mimeType: 'image/png', buffer: PNG }]);
    await page.locator('#composer-input').fill('look');
    await page.locator('#composer-input').press('Enter');
    await replyDone(page, 1);
    await page.locator('#attach-input').setInputFiles([{ name: 'next.png', mimeType: 'image/png', buffer: PNG }]);
    await page.locator('.pending-image').waitFor();
    const violations = await axeViolations(page);
    assert.deepEqual(violations, [], 'axe violations');
  } finally {
    await a.context.close().catch(() => {});
  }
});
