// Finding and taking conversations elsewhere, in headless Chromium against
// demo/echo: search from the sidebar and the jump to the message found, a
// share link opened without an account, export and import. See
// harness.mjs for how to run it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { start, newPage, shot, signUpUI, ROOT } from './harness.mjs';

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

/** Sends `text` and waits for the reply (the `n`th) to finish. */
async function send(page, text, n) {
  await page.locator('#composer-input').fill(text);
  await page.locator('#composer-input').press('Enter');
  await page.waitForFunction((count) => {
    const els = document.querySelectorAll('.msg-assistant');
    return els.length >= count && !els[els.length - 1].classList.contains('is-streaming')
      && els[els.length - 1].querySelector('.msg-body').innerText.length > 0;
  }, n, { timeout: 30_000 });
}

const WORD = `narwhal${Date.now().toString(36)}`;
let convUrl = null; // the conversation the first test makes

test('a word typed in the sidebar search finds the message, marked, and a click scrolls to it', async () => {
  const { page, problems } = main;
  // The message to find, then enough after it that it is out of view.
  await send(page, `Where do the ${WORD} of the north <b>live</b>?`, 1);
  await page.waitForURL(/\/chat\/cnv_/);
  convUrl = page.url();
  for (let i = 2; i <= 7; i += 1) await send(page, `Filler message ${i}\n\n${'More text. '.repeat(40)}`, i);
  await page.locator('#new-chat').click();
  await page.waitForURL('**/chat');

  await page.locator('#conv-search').fill(WORD);
  // Newest first: the reply (demo/echo repeats the question), the question, the title.
  const hit = page.locator('.search-hit[href*="#msg-"]').last();
  await hit.waitFor();
  await assert.doesNotReject(page.locator('.search-hit mark', { hasText: WORD }).first().waitFor());
  // The snippet is text: the question's <b> shows as typed, never as markup.
  assert.equal(await page.locator('.search-snippet b').count(), 0);
  assert.match(await page.locator('.search-snippet').last().innerText(), /<b>live<\/b>/);
  assert.equal(await page.locator('.conv-list:not(.search-results)').isHidden(), true, 'results replace the list');
  await shot(page, 'find-search-results');

  await hit.click();
  await page.waitForFunction(() => location.hash.startsWith('#msg-'), null, { timeout: 5000 }).catch(() => {});
  assert.ok(page.url().startsWith(`${convUrl}#msg-`), `${page.url()} is the conversation, at a message`);
  const found = page.locator('.msg.msg-found');
  await found.waitFor();
  assert.equal(await found.getAttribute('data-role'), 'user');
  assert.match(await found.innerText(), new RegExp(WORD));
  await page.waitForFunction(() => {
    const el = document.querySelector('.msg.msg-found');
    const box = el.getBoundingClientRect();
    return box.top >= 0 && box.bottom <= window.innerHeight;
  });
  await shot(page, 'find-search-jump');

  // Escape clears the search and brings the list back.
  await page.locator('#conv-search').press('Escape');
  await page.locator('.conv-list:not(.search-results)').waitFor({ state: 'visible' });
  assertClean(problems, 'search');
});

test('a share link opens read-only in a fresh browser without an account, and stops once revoked', async () => {
  const { page, problems } = main;
  // The conversation of the first test is open.
  await page.getByRole('button', { name: 'Share', exact: true }).click();
  const url = await page.locator('#share-url').inputValue();
  assert.match(url, /\/s\/shr_[A-Za-z0-9_-]{22,}$/);
  await shot(page, 'find-share-dialog');
  await page.getByRole('button', { name: 'Done' }).click();

  const stranger = await newPage(env);
  try {
    await stranger.page.goto(url);
    await stranger.page.locator('.share-messages .msg-user').first().waitFor();
    assert.match(await stranger.page.locator('h1').innerText(), new RegExp(WORD));
    // The question's <b> is text, and the reply is rendered Markdown, not markup from the user.
    assert.equal(await stranger.page.locator('.share-messages b').count(), 0);
    assert.equal(await stranger.page.locator('meta[name="robots"][content*="noindex"]').count(), 1);
    assert.equal(await stranger.page.locator('#composer-input').count(), 0, 'read-only');
    assert.equal((await stranger.context.cookies()).length, 0, 'no account, no cookie');
    await shot(stranger.page, 'find-share-page');

    await page.goto('/settings/shares');
    const revoke = page.getByRole('button', { name: /^Revoke the link to/ });
    await revoke.first().click();
    await page.getByText('You have not shared any conversation.').waitFor();
    await stranger.page.reload();
    await stranger.page.getByText('This link does not work').waitFor();
    assertClean(stranger.problems, 'the share page');
  } finally {
    await stranger.context.close();
  }
  assertClean(problems, 'share');
});

test('a conversation exports as a JSON download that Settings › Import takes back, and a ChatGPT export imports', async () => {
  const { page, problems } = main;
  await page.goto(convUrl);
  await page.getByRole('button', { name: 'Export', exact: true }).click();
  const downloading = page.waitForEvent('download');
  await page.getByRole('button', { name: 'JSON', exact: true }).click();
  const download = await downloading;
  assert.match(download.suggestedFilename(), /^chatgate-cnv_.*\.json$/);
  const file = await download.path();
  const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  assert.equal(doc.format, 'chatgate.conversation');
  assert.match(doc.messages[0].content, new RegExp(WORD));

  await page.goto('/settings/import');
  await page.locator('#import-file').setInputFiles(file);
  await page.getByRole('button', { name: 'Import', exact: true }).click();
  await page.getByText('Imported 1 conversation.').waitFor();

  await page.locator('#import-file').setInputFiles(path.join(ROOT, 'tests/fixtures/chatgpt_conversations_branched.json'));
  await page.getByRole('button', { name: 'Import', exact: true }).click();
  await page.locator('#import-report a', { hasText: 'Branching soup' }).waitFor();
  await page.locator('.import-skipped li', { hasText: 'tool messages (1)' }).waitFor();
  await shot(page, 'find-import-report');
  await page.locator('#import-report a', { hasText: 'Branching soup' }).click();
  await page.locator('.msg-assistant', { hasText: 'And ginger.' }).waitFor();
  // The tree came along: the other edit of the second question is one arrow away.
  const spicy = page.locator('.msg-user', { hasText: 'Make it a spicy one' });
  await spicy.locator('.branch-pos', { hasText: '2 / 2' }).waitFor();
  await spicy.getByRole('button', { name: 'Previous version' }).click();
  await page.locator('.msg-assistant', { hasText: 'Add sugar.' }).waitFor();
  await shot(page, 'find-import-tree');
  assertClean(problems, 'export and import');
});
