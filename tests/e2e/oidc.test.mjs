// chatgate as an OpenID Provider, driven by `openid-client` (the certified relying-party
// library) with the web client in headless Chromium: an org admin registers an app on the
// organization page (the secret shown once), then the library discovers the provider, sends
// the browser to authorize with PKCE (sign in, consent), exchanges the code, validates the ID
// token against the JWKS, reads userinfo, refreshes with rotation and logs out (RP-initiated).
// The app then shows in the user's connected apps, and disconnecting it ends its tokens.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { start, newPage, shot, signUpUI, apiCall } from './harness.mjs';

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

// The relying party's callback: nothing listens there; the browser's request is caught.
const RP = 'http://127.0.0.1:9';
const CALLBACK = `${RP}/oauth/openid/callback`;
const LOGGED_OUT = `${RP}/logged-out`;

/** Catches the browser's navigations to the relying party: resolves with the URL of the next. */
async function catchRp(context) {
  let waiting = null;
  await context.route(`${RP}/**`, (route) => {
    if (waiting) waiting(route.request().url());
    route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>RP</title><p>relying party</p>' });
  });
  return () => new Promise((resolve) => { waiting = resolve; });
}

test('a relying party signs a member in with PKCE and consent, validates the ID token, reads userinfo, refreshes and logs out', async () => {
  // The admin registers the app on the organization page (its personal workspace).
  const admin = await newPage(env);
  const user = await signUpUI(admin.page, { name: 'Grace Hopper' });
  const login = await apiCall(env, 'POST', '/api/auth/login', { body: { email: user.email, password: user.password, refresh_token_in: 'body' } });
  const orgs = await apiCall(env, 'GET', '/api/orgs', { token: login.json.access_token });
  const orgId = orgs.json.items[0].id;
  await admin.page.goto(`/orgs/${orgId}/apps`);
  await admin.page.getByLabel('App name').fill('Test RP');
  await admin.page.getByLabel('Redirect URIs', { exact: true }).fill(CALLBACK);
  await admin.page.getByLabel('Post-logout redirect URIs (optional)').fill(LOGGED_OUT);
  await admin.page.getByLabel(/^org —/).check();
  await admin.page.getByLabel(/^offline_access —/).check();
  await admin.page.getByRole('button', { name: 'Register app' }).click();
  const clientId = (await admin.page.locator('#oauth-client-id').textContent()).trim();
  const clientSecret = (await admin.page.locator('#oauth-client-secret').textContent()).trim();
  assert.match(clientId, /^cgc_/);
  assert.ok(clientSecret.length >= 40);
  await admin.page.getByRole('table', { name: 'OAuth apps' }).getByText('Test RP').waitFor();
  // The form is back to its defaults for the next app: openid profile email, no more.
  assert.equal(await admin.page.getByLabel(/^email —/).isChecked(), true);
  assert.equal(await admin.page.getByLabel(/^org —/).isChecked(), false);
  await shot(admin.page, 'oidc-org-apps');
  assertClean(admin.problems, 'the organization page');

  // Discovery, and the authorization URL with PKCE, state and nonce.
  const config = await oidc.discovery(new URL(env.base), clientId, clientSecret, undefined, {
    execute: [oidc.allowInsecureRequests],
  });
  assert.equal(config.serverMetadata().issuer, env.base);
  const verifier = oidc.randomPKCECodeVerifier();
  const challenge = await oidc.calculatePKCECodeChallenge(verifier);
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const authorizeUrl = oidc.buildAuthorizationUrl(config, {
    redirect_uri: CALLBACK, scope: 'openid profile email org offline_access',
    code_challenge: challenge, code_challenge_method: 'S256', state, nonce,
  });

  // A fresh browser: sign in first, then the consent page, then back to the app.
  const { context, page, problems } = await newPage(env);
  const nextRp = await catchRp(context);
  await page.goto(authorizeUrl.href);
  await page.waitForURL('**/login?next=*');
  await page.getByLabel('Email').fill(user.email);
  await page.getByLabel('Password', { exact: true }).fill(user.password);
  const arrived = nextRp();
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('heading', { name: 'Test RP wants to sign you in' }).waitFor();
  await page.getByText('Your email address', { exact: true }).waitFor();
  await shot(page, 'oidc-consent');
  await page.getByRole('button', { name: 'Allow' }).click();
  const callback = new URL(await arrived);
  await page.waitForURL(`${RP}/**`);
  assert.equal(callback.searchParams.get('state'), state);
  assertClean(problems, 'the consent page');

  // The code exchange: openid-client validates the ID token (ES256, the JWKS, iss, aud, nonce).
  const tokens = await oidc.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true,
  });
  const claims = tokens.claims();
  assert.equal(claims.iss, env.base);
  assert.equal(claims.aud, clientId);
  assert.equal(claims.email, user.email);
  assert.equal(claims.name, 'Grace Hopper');
  assert.equal(claims.organization.id, orgId);
  assert.equal(claims.organization.role, 'owner');
  assert.ok(claims.auth_time <= Math.ceil(Date.now() / 1000));
  const header = JSON.parse(Buffer.from(tokens.id_token.split('.')[0], 'base64url'));
  assert.equal(header.alg, 'ES256');

  // Userinfo, with the subject the ID token named.
  const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
  assert.equal(info.email, user.email);
  assert.equal(info.organization.name, claims.organization.name);

  // Refresh rotates the refresh token; the next refresh uses the new one.
  const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token);
  assert.notEqual(refreshed.refresh_token, tokens.refresh_token);
  assert.equal(refreshed.claims().sub, claims.sub);
  const again = await oidc.refreshTokenGrant(config, refreshed.refresh_token);
  assert.ok(again.access_token);

  // A second authorization skips the consent page (remembered).
  const second = oidc.buildAuthorizationUrl(config, {
    redirect_uri: CALLBACK, scope: 'openid email', state: 's2', code_challenge: challenge, code_challenge_method: 'S256',
  });
  const back = nextRp();
  await page.goto(second.href);
  assert.equal(new URL(await back).searchParams.get('state'), 's2');
  await page.waitForURL(`${RP}/**`);

  // The app is listed under connected apps.
  await page.goto('/settings/connected-apps');
  await page.getByRole('table', { name: 'Connected apps' }).getByText('Test RP').waitFor();
  await shot(page, 'oidc-connected-apps');

  // RP-initiated logout: chatgate signs the user out and returns to the registered URI.
  const logoutUrl = oidc.buildEndSessionUrl(config, {
    id_token_hint: tokens.id_token, post_logout_redirect_uri: LOGGED_OUT, state: 'bye',
  });
  const loggedOut = nextRp();
  await page.goto(logoutUrl.href);
  const landed = new URL(await loggedOut);
  await page.waitForURL(`${RP}/**`);
  assert.equal(landed.origin + landed.pathname, LOGGED_OUT);
  assert.equal(landed.searchParams.get('state'), 'bye');
  await page.goto('/chat');
  await page.waitForURL('**/login*');

  // Disconnecting the app (in the admin's browser, the same account) ends its tokens.
  await admin.page.goto('/settings/connected-apps');
  await admin.page.getByRole('button', { name: 'Disconnect Test RP' }).click();
  await admin.page.getByRole('dialog').getByRole('button', { name: 'Disconnect' }).click();
  await admin.page.getByText('No apps are connected to your account.').waitFor();
  await assert.rejects(oidc.refreshTokenGrant(config, again.refresh_token));
  assertClean(admin.problems, 'the connected apps');
  assertClean(problems, 'the relying party flow');
  await context.close();
  await admin.context.close();
});
