// Mail in the web client, with the server's dev mailbox (DEV_MAILBOX=on, as under
// make dev): confirming a new account's address, and a forgotten password reset
// from the link in the mail, which signs out every other session.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { start, newPage, shot, signUpUI, apiCall, axeViolations, PASSWORD } from './harness.mjs';

let env;

before(async () => {
  env = await start();
});

after(async () => {
  if (env) await env.stop();
});

function assertClean(problems, where) {
  assert.deepEqual(problems.csp, [], `CSP violations on ${where}`);
  assert.deepEqual(problems.errors, [], `page errors on ${where}`);
  assert.deepEqual(problems.dialogs, [], `dialogs fired on ${where}`);
}

/** In the dev mailbox page: the newest message to `to` about `subject`, opened. */
async function openMail(page, to, subject) {
  await page.getByRole('heading', { name: 'Dev mailbox' }).waitFor();
  await page.getByLabel('To').fill(to);
  // Mail goes out after the response: refresh until it is there.
  const item = page.locator('.mailbox-item', { hasText: subject }).first();
  for (let i = 0; i < 50 && !(await item.isVisible()); i += 1) {
    await page.getByRole('button', { name: 'Refresh' }).click();
    await page.waitForTimeout(200);
  }
  await item.click();
  await page.locator('.mailbox-reader').getByRole('heading', { name: subject }).waitFor();
}

test('sign up, open the verification mail in the dev mailbox, and the address is confirmed', async () => {
  const { context, page, problems } = await newPage(env);
  const policy = await apiCall(env, 'GET', '/api/auth/policy');
  assert.equal(policy.json.dev_mailbox, true);
  const user = await signUpUI(page);

  const banner = page.locator('#verify-banner');
  await banner.getByText('Please confirm your email address').waitFor();
  assert.match(await banner.innerText(), new RegExp(user.email.replace(/[.+]/g, '\\$&')));
  await shot(page, 'verify-banner');

  await banner.getByRole('link', { name: 'Open the dev mailbox' }).click();
  await openMail(page, user.email, 'Confirm your email address');
  await shot(page, 'dev-mailbox');
  await page.locator('.mailbox-text a', { hasText: '/verify-email?token=' }).click();
  await page.waitForURL(/\/verify-email\?token=/);
  await page.getByText('Your email address is confirmed').waitFor();
  await shot(page, 'email-confirmed');
  await page.getByRole('link', { name: 'Continue to chat' }).click();
  await page.waitForURL('**/chat');
  assert.equal(await banner.isHidden(), true, 'the banner is gone');

  // Settings say so too; the link works once.
  await page.goto('/settings/profile');
  await page.getByText('Your email address is confirmed.').waitFor();
  assertClean(problems, 'verification');
  await context.close();
});

test('forgot password: the link sets a new password and every old session is signed out', async () => {
  const first = await newPage(env);
  const user = await signUpUI(first.page, { name: 'Forgetful Fred' });

  const second = await newPage(env);
  const { page } = second;
  await page.goto('/login');
  await page.getByRole('link', { name: 'Forgot your password?' }).click();
  await page.getByRole('heading', { name: 'Forgot your password?' }).waitFor();
  await page.getByLabel('Email').fill(user.email);
  await page.getByRole('button', { name: 'Send a reset link' }).click();
  await page.getByText('a link to reset its password is on its way').waitFor();
  await shot(page, 'forgot-password');

  await page.getByRole('link', { name: 'Open the dev mailbox' }).click();
  await openMail(page, user.email, 'Reset your password');
  await page.locator('.mailbox-text a', { hasText: '/reset-password?token=' }).click();
  await page.waitForURL(/\/reset-password\?token=/);
  const newPassword = `${PASSWORD} but new`;
  // A common password is refused, and the link keeps working.
  await page.getByLabel('New password', { exact: true }).fill('password');
  await page.getByRole('button', { name: 'Set the new password' }).click();
  await page.locator('.field-error:visible').waitFor();
  await page.getByLabel('New password', { exact: true }).fill(newPassword);
  await shot(page, 'reset-password');
  await page.getByRole('button', { name: 'Set the new password' }).click();
  await page.waitForURL(/\/login\?reason=reset/);
  await page.getByText('Your password is changed').waitFor();

  // The old password no longer works; the new one does.
  const old = await apiCall(env, 'POST', '/api/auth/login', { body: { email: user.email, password: PASSWORD } });
  assert.equal(old.status, 401);
  await page.getByLabel('Email').fill(user.email);
  await page.getByLabel('Password', { exact: true }).fill(newPassword);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL('**/chat');

  // The first browser's session ended with the reset: its next request signs it out.
  await first.page.getByRole('link', { name: 'Settings' }).click();
  await first.page.getByRole('link', { name: 'Security' }).click();
  await first.page.waitForURL(/\/login\?reason=expired/);
  await first.page.getByText('Your session has ended').waitFor();
  assertClean(first.problems, 'the old session');
  assertClean(second.problems, 'the reset');
  await first.context.close();
  await second.context.close();
});

test('the mail pages pass axe (WCAG 2.1 AA), light and dark', async () => {
  for (const colorScheme of ['light', 'dark']) {
    // axe is injected as a script, so this context bypasses the CSP.
    const { context, page } = await newPage(env, { colorScheme, bypassCSP: true });
    const found = {};
    const visit = async (path, ready) => {
      await page.goto(path);
      await ready.waitFor();
      const v = await axeViolations(page);
      if (v.length) found[path] = v;
    };
    await visit('/forgot-password', page.getByRole('button', { name: 'Send a reset link' }));
    await visit('/reset-password?token=x', page.getByRole('button', { name: 'Set the new password' }));
    await visit('/verify-email?token=x', page.getByText('This link does not work'));
    await visit('/dev/mailbox', page.locator('.mailbox-list li').first());
    assert.deepEqual(found, {}, `axe violations in ${colorScheme} mode`);
    await context.close();
  }
});
