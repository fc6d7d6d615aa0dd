// The operator's console in the web client: a service admin (ADMIN_EMAILS, verified) finds a
// user, disables them, and that user's open session is refused on its next request; the
// console's pages pass axe; nobody else sees the console.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { start, newPage, shot, signUpUI, uniqueEmail, apiCall, axeViolations, mailLink, PASSWORD } from './harness.mjs';

const ADMIN = 'console-admin@e2e-console.example.org';
let env;
let adminReady = null;

before(async () => {
  env = await start({ env: { ADMIN_EMAILS: ADMIN } });
});

after(async () => {
  if (env) await env.stop();
});

function assertClean(problems, where) {
  assert.deepEqual(problems.csp, [], `CSP violations on ${where}`);
  assert.deepEqual(problems.errors, [], `page errors on ${where}`);
  assert.deepEqual(problems.dialogs, [], `dialogs fired on ${where}`);
}

/** The service admin's account: registered and its address verified (once). */
function adminAccount() {
  adminReady ||= (async () => {
    const reg = await apiCall(env, 'POST', '/api/auth/register', { body: { email: ADMIN, password: PASSWORD, name: 'Olive Operator' } });
    assert.equal(reg.status, 201, JSON.stringify(reg.json));
    const link = await mailLink(env, ADMIN, 'Confirm your email address', '/verify-email');
    const token = new URL(link, env.base).searchParams.get('token');
    const verified = await apiCall(env, 'POST', '/api/auth/verify-email', { body: { token } });
    assert.equal(verified.status, 204);
  })();
  return adminReady;
}

async function signInUI(page, email, password = PASSWORD) {
  await page.goto('/login');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

test('a service admin finds a user, disables them, and their open session is refused on its next request', async () => {
  await adminAccount();
  const victim = await newPage(env);
  const user = await signUpUI(victim.page, { email: uniqueEmail('victim'), name: 'Vic Timm' });
  // Not a service admin: no console in the navigation, and its pages say "not found".
  assert.equal(await victim.page.getByRole('link', { name: 'Admin' }).count(), 0);

  const admin = await newPage(env);
  const { page } = admin;
  await signInUI(page, ADMIN);
  await page.waitForURL('**/chat');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Admin' }).click();
  await page.waitForURL('**/admin/users');
  await page.getByLabel('Email, name or id').fill(user.email.split('@')[0].toUpperCase());
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByRole('link', { name: user.email }).click();
  await page.getByRole('heading', { name: user.email }).waitFor();
  await page.getByRole('heading', { name: 'Sessions' }).waitFor();
  assert.equal(await page.getByText('No live session.').count(), 0, 'the open session is listed');
  await shot(page, 'admin-user');

  await page.getByRole('button', { name: 'Disable account' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Disable' }).click();
  await page.getByRole('button', { name: 'Enable account' }).waitFor();
  await page.getByText('No live session.').waitFor();
  await shot(page, 'admin-user-disabled');

  // The victim's open tab: its next request is refused, and signing in again says why.
  await victim.page.getByRole('link', { name: 'Settings' }).click();
  await victim.page.getByRole('link', { name: 'Security' }).click();
  await victim.page.waitForURL(/\/login\?reason=expired/);
  await victim.page.getByText('Your session has ended').waitFor();
  await signInUI(victim.page, user.email, user.password);
  await victim.page.getByText("disabled by the service's operator").waitFor();
  await shot(victim.page, 'admin-disabled-sign-in');

  // Enabled again, they sign in.
  await page.getByRole('button', { name: 'Enable account' }).click();
  await page.getByRole('button', { name: 'Disable account' }).waitFor();
  await victim.page.getByRole('button', { name: 'Sign in' }).click();
  await victim.page.waitForURL('**/chat');

  // The console's log shows both, with the admin as actor.
  await page.getByRole('link', { name: 'Audit log' }).click();
  await page.getByLabel('Event').selectOption('admin.user_disabled');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.getByRole('cell', { name: 'admin.user_disabled' }).first().waitFor();

  assertClean(admin.problems, 'the console');
  assertClean(victim.problems, 'the disabled user');
  await admin.context.close();
  await victim.context.close();
});

test('the console is not found by anyone who is not a service admin', async () => {
  const { context, page, problems } = await newPage(env);
  const user = await signUpUI(page, { email: uniqueEmail('curious'), name: 'Curious Carl' });
  await page.goto('/admin/users');
  await page.getByRole('heading', { name: 'Page not found' }).waitFor();
  const login = await apiCall(env, 'POST', '/api/auth/login', { body: { email: user.email, password: user.password, refresh_token_in: 'body' } });
  const res = await apiCall(env, 'GET', '/api/admin/users', { token: login.json.access_token });
  assert.equal(res.status, 404);
  assertClean(problems, 'the console for a member');
  await context.close();
});

test('the console pages pass axe (WCAG 2.1 AA), light and dark', async () => {
  await adminAccount();
  const member = await apiCall(env, 'POST', '/api/auth/register', { body: { email: uniqueEmail('listed'), password: PASSWORD, name: 'Listed Lee', refresh_token_in: 'body' } });
  const me = await apiCall(env, 'GET', '/api/me', { token: member.json.access_token });
  const userId = member.json.user.id;
  const orgId = me.json.orgs[0].id;
  for (const colorScheme of ['light', 'dark']) {
    // axe is injected as a script, so this context bypasses the CSP.
    const { context, page } = await newPage(env, { colorScheme, bypassCSP: true });
    await signInUI(page, ADMIN);
    await page.waitForURL('**/chat');
    const found = {};
    const visit = async (path, ready) => {
      await page.goto(path);
      await ready().waitFor();
      const v = await axeViolations(page);
      if (v.length) found[path] = v;
    };
    await visit('/admin/users', () => page.getByRole('link', { name: /listed-/ }).first());
    await visit(`/admin/users/${userId}`, () => page.getByRole('button', { name: 'Disable account' }));
    await visit('/admin/orgs', () => page.getByRole('link', { name: "Listed Lee's workspace" }).first());
    await visit(`/admin/orgs/${orgId}`, () => page.getByLabel('Monthly token budget'));
    await visit('/admin/usage', () => page.getByRole('button', { name: 'Show' }));
    await visit('/admin/audit', () => page.getByRole('cell').first());
    if (colorScheme === 'light') await shot(page, 'admin-audit');
    assert.deepEqual(found, {}, `axe violations in ${colorScheme} mode`);
    await context.close();
  }
});
