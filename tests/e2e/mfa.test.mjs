// Two-step verification and passkeys in the web client: turn on TOTP (the code
// computed here from the secret the page shows), sign out, sign in with the
// password and a code, then with a recovery code; add a passkey with Chromium's
// virtual authenticator (DevTools protocol, WebAuthn domain), sign out, sign in
// with it alone, and use it as the second step.
//
// The page is at http://localhost:PORT: browsers do WebAuthn only at a domain
// name, and the server's relying party is `localhost` (scripts/serve.sh).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { start, newPage, shot, signUpUI, axeViolations } from './harness.mjs';

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

function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const ch of text.replace(/=+$/, '').toUpperCase()) {
    const v = alphabet.indexOf(ch);
    if (v < 0) throw new Error(`not base32: ${text}`);
    bits += v.toString(2).padStart(5, '0');
  }
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

/** RFC 6238: HMAC-SHA1 over the 30-second step, dynamic truncation, 6 digits. */
function totp(secret, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = crypto.createHmac('sha1', base32Decode(secret)).update(counter).digest();
  const o = mac[mac.length - 1] & 15;
  const value = ((mac[o] & 0x7f) << 24) | (mac[o + 1] << 16) | (mac[o + 2] << 8) | mac[o + 3];
  return String(value % 1_000_000).padStart(6, '0');
}

const stepNow = () => Math.floor(Date.now() / 30_000);

async function signOut(page) {
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await page.waitForURL('**/login');
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
}

async function passwordStep(page, user) {
  await page.getByLabel('Email').fill(user.email);
  await page.getByLabel('Password', { exact: true }).fill(user.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('heading', { name: 'Two-step verification' }).waitFor();
}

test('turn on two-step verification, sign in with a code, then with a recovery code; a passkey signs in alone and as the second step', async () => {
  const local = { ...env, base: env.base.replace('127.0.0.1', 'localhost') };
  const { context, page, problems } = await newPage(local);
  // Chromium's virtual authenticator: a platform authenticator with resident keys
  // that verifies the user and confirms presence by itself.
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true,
      isUserVerified: true, automaticPresenceSimulation: true,
    },
  });

  const user = await signUpUI(page);

  // Settings → Security: set up two-step verification with the key the page shows.
  await page.goto('/settings/security');
  await page.getByLabel('Your password', { exact: true }).fill(user.password);
  await page.getByRole('button', { name: 'Set up two-step verification' }).click();
  await page.getByRole('img', { name: 'QR code for your authenticator app' }).waitFor();
  const secret = (await page.locator('#totp-secret').innerText()).trim();
  assert.match(secret, /^[A-Z2-7]{32}$/);
  await shot(page, 'totp-enrol');
  // A step back: the next sign-in's code (this step) is then a newer one.
  let lastStep = stepNow() - 1;
  await page.getByLabel('Code from the app').fill(totp(secret, lastStep));
  await page.getByRole('button', { name: 'Turn on' }).click();
  await page.getByText('Two-step verification is on. Save your recovery codes').waitFor();
  const codes = await page.getByRole('list', { name: 'Recovery codes' }).locator('li').allInnerTexts();
  assert.equal(codes.length, 10);
  await shot(page, 'totp-recovery-codes');
  await page.getByRole('button', { name: 'I have saved them' }).click();
  await page.getByText('Recovery codes left: 10').waitFor();

  // Sign out; in again with the password and a code.
  await signOut(page);
  await passwordStep(page, user);
  await shot(page, 'totp-second-step');
  lastStep = Math.max(lastStep + 1, stepNow());
  await page.getByLabel('Authentication code').fill(totp(secret, lastStep));
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.waitForURL('**/chat');

  // And with a recovery code.
  await signOut(page);
  await passwordStep(page, user);
  await page.getByRole('button', { name: 'Use a recovery code instead' }).click();
  await page.getByLabel('Recovery code').fill(codes[0]);
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.waitForURL('**/chat');
  // A used recovery code is refused.
  await signOut(page);
  await passwordStep(page, user);
  await page.getByRole('button', { name: 'Use a recovery code instead' }).click();
  await page.getByLabel('Recovery code').fill(codes[0]);
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.getByText('That recovery code is not right, or was used already.').waitFor();
  await page.getByLabel('Recovery code').fill(codes[1]);
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.waitForURL('**/chat');

  // Settings → Passkeys: add one (the session was just signed in).
  await page.goto('/settings/passkeys');
  await page.getByLabel('Name').fill('Virtual key');
  await page.getByRole('button', { name: 'Add a passkey' }).click();
  await page.getByRole('cell', { name: 'Virtual key', exact: true }).waitFor();
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  assert.equal(credentials.length, 1);
  assert.equal(credentials[0].rpId, 'localhost');
  await shot(page, 'passkeys');

  // Sign out; in with the passkey alone (it verifies the user: no second step).
  await signOut(page);
  await page.getByRole('button', { name: 'Continue with a passkey' }).click();
  await page.waitForURL('**/chat');

  // The password, then the passkey as the second step.
  await signOut(page);
  await passwordStep(page, user);
  await page.getByRole('button', { name: 'Use a passkey' }).click();
  await page.waitForURL('**/chat');

  const after = (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials;
  assert.ok(after[0].signCount >= 2, `the counter moved: ${after[0].signCount}`);
  assertClean(problems, 'two-step verification and passkeys');
  await context.close();
});

test('the two-step verification and passkey pages pass axe (WCAG 2.1 AA)', async () => {
  const local = { ...env, base: env.base.replace('127.0.0.1', 'localhost') };
  const { context, page } = await newPage(local, { bypassCSP: true });
  const user = await signUpUI(page);
  await page.goto('/settings/passkeys');
  await page.getByText('You have no passkeys yet.').waitFor();
  assert.deepEqual(await axeViolations(page), [], 'passkeys');
  await page.goto('/settings/security');
  await page.getByLabel('Your password', { exact: true }).fill(user.password);
  await page.getByRole('button', { name: 'Set up two-step verification' }).click();
  await page.getByRole('img', { name: 'QR code for your authenticator app' }).waitFor();
  assert.deepEqual(await axeViolations(page), [], 'enrolment');
  const secret = (await page.locator('#totp-secret').innerText()).trim();
  await page.getByLabel('Code from the app').fill(totp(secret, stepNow()));
  await page.getByRole('button', { name: 'Turn on' }).click();
  await page.getByRole('list', { name: 'Recovery codes' }).waitFor();
  assert.deepEqual(await axeViolations(page), [], 'recovery codes');
  await page.getByRole('button', { name: 'I have saved them' }).click();
  await page.getByText('Recovery codes left: 10').waitFor();
  assert.deepEqual(await axeViolations(page), [], 'two-step verification on');
  await signOut(page);
  assert.deepEqual(await axeViolations(page), [], 'sign-in page');
  await passwordStep(page, user);
  assert.deepEqual(await axeViolations(page), [], 'second step');
  await context.close();
});

test('at 127.0.0.1 the sign-in page says passkeys work at localhost (browsers refuse an IP address)', async () => {
  const { context, page, problems } = await newPage(env);
  await page.goto('/login');
  await page.getByRole('button', { name: 'Continue with a passkey' }).click();
  const port = new URL(env.base).port;
  await page.getByText(`Passkeys of this service work at http://localhost:${port}`).waitFor();
  assertClean(problems, 'the sign-in page at 127.0.0.1');
  await context.close();
});
