// Sign-in with an OpenID provider in the web client: the test identity provider
// (tests/support/idp.mjs, oidc-provider with its development login and consent pages) is
// started here; the sign-in page shows its button, the browser goes there and back, and
// Settings → Sign-in methods lists it, refusing to unlink the account's only way in.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { start, newPage, shot, uniqueEmail, apiCall, ROOT } from './harness.mjs';

let env;
let idp;

/** Starts tests/support/idp.mjs on a free port; resolves to its base URL. */
function startIdp() {
  const child = spawn('node', [path.join(ROOT, 'tests/support/idp.mjs'), '--port', '0'], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'],
  });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the test identity provider exited with ${code}`)));
    readline.createInterface({ input: child.stdout }).once('line', (line) => {
      resolve({ child, url: JSON.parse(line).url });
    });
  });
}

before(async () => {
  idp = await startIdp();
  env = await start({
    env: {
      OIDC_PROVIDERS: 'testidp',
      OIDC_TESTIDP_ISSUER: idp.url,
      OIDC_TESTIDP_CLIENT_ID: 'chatgate-rs',
      OIDC_TESTIDP_CLIENT_SECRET: 'chatgate-rs-secret-0123456789abcdef',
      OIDC_TESTIDP_NAME: 'Test IdP',
      OIDC_ALLOW_INSECURE_HOSTS: '127.0.0.1',
    },
  });
});

after(async () => {
  if (env) await env.stop();
  if (idp) idp.child.kill();
});

test('sign in with the test identity provider, then see and keep the only sign-in method', async () => {
  const { context, page, problems } = await newPage(env);
  const providers = await apiCall(env, 'GET', '/api/auth/providers');
  assert.deepEqual(providers.json, [{ id: 'testidp', name: 'Test IdP', type: 'oidc' }]);

  await page.goto('/login?next=%2Fsettings%2Fsign-in');
  const button = page.getByRole('link', { name: 'Continue with Test IdP' });
  await button.waitFor();
  await shot(page, 'sign-in-providers');
  await button.click();

  // The provider's own pages: its login form, then its consent.
  const email = uniqueEmail('idp');
  await page.waitForURL(`${idp.url}/interaction/**`);
  await page.locator('input[name="login"]').fill(`sub-${email};${email};true`);
  await page.locator('input[name="password"]').fill('anything');
  await page.getByRole('button', { name: 'Sign-in' }).click();
  await page.getByRole('button', { name: 'Continue' }).click();

  // Back in chatgate, signed in, where the sign-in started.
  await page.waitForURL('**/settings/sign-in');
  await page.getByRole('heading', { name: 'Sign-in methods' }).waitFor();
  const row = page.getByRole('row', { name: /Test IdP/ });
  await row.waitFor();
  assert.match(await row.innerText(), new RegExp(email.replace(/[.+]/g, '\\$&')));
  assert.equal(await page.getByRole('row', { name: /Password/ }).count(), 0, 'no password');
  await shot(page, 'sign-in-methods');

  // The only way in cannot be unlinked: the server says so, and the row stays.
  await row.getByRole('button', { name: 'Unlink Test IdP' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Unlink' }).click();
  await page.getByText('last way to sign in').waitFor();
  assert.equal(await page.getByRole('row', { name: /Test IdP/ }).count(), 1);

  // A failed sign-in comes back to the sign-in page with a reason in words.
  const other = await newPage(env);
  await other.page.goto('/api/auth/oauth/testidp/callback?state=forged&code=forged');
  await other.page.waitForURL('**/login?oauth_error=invalid_state');
  await other.page.getByText('That sign-in link expired').waitFor();
  await shot(other.page, 'sign-in-failed');

  assert.deepEqual(problems.errors, [], 'page errors');
  assert.deepEqual(other.problems.errors, [], 'page errors');
  await other.context.close();
  await context.close();
});
