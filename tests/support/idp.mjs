// The test identity providers, on one port of 127.0.0.1, for the sign-in tests:
//
// - `/`: a real OpenID Provider, `oidc-provider` (the certified Node implementation), with its
//   development login and consent pages (any login, any password; then "Continue"). A login names the
//   account: `sub` or `sub;email;verified` (`verified` is `true` or `false`), e.g.
//   `u1;ada@example.com;true`. Its clients are chatgate as a native (loopback) app, so any
//   port of 127.0.0.1 is a valid redirect: `chatgate-rs` (RS256 ID tokens) for the provider id
//   `testidp`, `chatgate-es` (ES256) for `testidp-es`.
// - `/github`: GitHub's OAuth 2.0 as a small mock: `/login/oauth/authorize` signs in at once as
//   the `login` query parameter (`id;email;verified`), `/login/oauth/access_token` checks the
//   client secret and PKCE, `/api/user` and `/api/user/emails` answer for the token.
// - `/rogue`: an OpenID issuer that publishes one key and signs as the test asks, to forge what
//   a real provider never sends: `scenario` on the authorization request is `other-key` (signed
//   by a key it does not publish, with the published key's kid), `expired`, or `ok`. It takes
//   only client_secret_post at its token endpoint.
//
//   node tests/support/idp.mjs [--port N]
//
// Prints one line, `{"url": "http://127.0.0.1:N"}`, when it listens, and serves until it is
// ended (the tests start it under tests/support/watchdog.sh).

import http from 'node:http';
import crypto from 'node:crypto';
import Provider from 'oidc-provider';

const arg = process.argv.indexOf('--port');
const port = arg > 0 ? Number(process.argv[arg + 1]) : 0;

const CLIENT_SECRETS = {
  'chatgate-rs': 'chatgate-rs-secret-0123456789abcdef',
  'chatgate-es': 'chatgate-es-secret-0123456789abcdef',
  'chatgate-rogue': 'chatgate-rogue-secret-0123456789abcdef',
  'chatgate-github': 'chatgate-github-secret-0123456789abcdef',
};

const b64url = (buf) => Buffer.from(buf).toString('base64url');
const sha256 = (s) => crypto.createHash('sha256').update(s).digest();

/** `sub;email;verified` → claims. */
function account(spec) {
  const [sub, email, verified] = String(spec).split(';');
  const claims = { sub };
  if (email) {
    claims.email = email;
    claims.email_verified = verified !== 'false';
  }
  claims.name = `Test ${sub}`;
  return claims;
}

function privateJwk(type, kid, alg) {
  const { privateKey } = type === 'rsa'
    ? crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })
    : crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...privateKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    let data = '';
    req.on('data', (c) => { data += c; });
    req.on('end', () => resolve(data));
    req.on('error', reject);
  });
}

function send(res, status, body, headers = {}) {
  const json = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(json);
}

function redirect(res, url) {
  res.writeHead(302, { location: url });
  res.end();
}

/** S256 PKCE check. */
const pkceOk = (verifier, challenge) => !!verifier && b64url(sha256(verifier)) === challenge;

// --- GitHub -------------------------------------------------------------------------------
const githubCodes = new Map(); // code → {redirect_uri, challenge, user}
const githubTokens = new Map(); // token → user

async function github(req, res, url) {
  const path = url.pathname.slice('/github'.length);
  if (req.method === 'GET' && path === '/login/oauth/authorize') {
    const q = url.searchParams;
    if (q.get('client_id') !== 'chatgate-github') return send(res, 400, { error: 'unknown client' });
    const code = b64url(crypto.randomBytes(16));
    const [id, email, verified] = (q.get('login') || '583231;octocat@example.com;true').split(';');
    githubCodes.set(code, {
      redirect_uri: q.get('redirect_uri'),
      challenge: q.get('code_challenge'),
      user: { id: Number(id), login: `user${id}`, name: `GitHub ${id}`, email, verified: verified !== 'false' },
    });
    const back = new URL(q.get('redirect_uri'));
    back.searchParams.set('code', code);
    back.searchParams.set('state', q.get('state'));
    return redirect(res, back.toString());
  }
  if (req.method === 'POST' && path === '/login/oauth/access_token') {
    const form = new URLSearchParams(await readBody(req));
    const grant = githubCodes.get(form.get('code'));
    githubCodes.delete(form.get('code'));
    // GitHub answers a refused code with 200 and an error.
    if (form.get('client_id') !== 'chatgate-github'
        || form.get('client_secret') !== CLIENT_SECRETS['chatgate-github']) {
      return send(res, 200, { error: 'incorrect_client_credentials' });
    }
    if (!grant || grant.redirect_uri !== form.get('redirect_uri')
        || !pkceOk(form.get('code_verifier'), grant.challenge)) {
      return send(res, 200, { error: 'bad_verification_code' });
    }
    const token = `gho_${b64url(crypto.randomBytes(18))}`;
    githubTokens.set(token, grant.user);
    return send(res, 200, { access_token: token, token_type: 'bearer', scope: 'read:user,user:email' });
  }
  const auth = req.headers.authorization || '';
  const user = githubTokens.get(auth.replace(/^Bearer /, ''));
  if (req.method === 'GET' && (path === '/api/user' || path === '/api/user/emails')) {
    if (!user) return send(res, 401, { message: 'Bad credentials' });
    if (!req.headers['user-agent']) return send(res, 403, { message: 'a User-Agent is required' });
    if (path === '/api/user') return send(res, 200, { id: user.id, login: user.login, name: user.name });
    return send(res, 200, [
      { email: `${user.login}@users.noreply.github.com`, primary: false, verified: true, visibility: null },
      ...(user.email ? [{ email: user.email, primary: true, verified: user.verified, visibility: 'private' }] : []),
    ]);
  }
  return send(res, 404, { message: 'Not Found' });
}

// --- The rogue issuer ---------------------------------------------------------------------
const rogueKey = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const otherKey = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const rogueCodes = new Map();

function signEs256(privateKey, header, claims) {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const sig = crypto.sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${b64url(sig)}`;
}

async function rogue(req, res, url, issuer) {
  const path = url.pathname.slice('/rogue'.length);
  if (path === '/.well-known/openid-configuration') {
    return send(res, 200, {
      issuer,
      authorization_endpoint: `${issuer}/auth`,
      token_endpoint: `${issuer}/token`,
      jwks_uri: `${issuer}/jwks`,
      response_types_supported: ['code'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['ES256'],
      token_endpoint_auth_methods_supported: ['client_secret_post'],
      code_challenge_methods_supported: ['S256'],
    });
  }
  if (path === '/jwks') {
    return send(res, 200, { keys: [{ ...rogueKey.publicKey.export({ format: 'jwk' }), kid: 'rogue-1', use: 'sig', alg: 'ES256' }] });
  }
  if (path === '/auth') {
    const q = url.searchParams;
    const code = b64url(crypto.randomBytes(16));
    rogueCodes.set(code, {
      scenario: q.get('scenario') || 'ok',
      nonce: q.get('nonce'),
      challenge: q.get('code_challenge'),
      redirect_uri: q.get('redirect_uri'),
      login: q.get('login') || 'rogue-user;rogue@example.com;true',
    });
    const back = new URL(q.get('redirect_uri'));
    back.searchParams.set('code', code);
    back.searchParams.set('state', q.get('state'));
    return redirect(res, back.toString());
  }
  if (path === '/token' && req.method === 'POST') {
    const form = new URLSearchParams(await readBody(req));
    if (req.headers.authorization || form.get('client_id') !== 'chatgate-rogue'
        || form.get('client_secret') !== CLIENT_SECRETS['chatgate-rogue']) {
      return send(res, 401, { error: 'invalid_client' });
    }
    const grant = rogueCodes.get(form.get('code'));
    rogueCodes.delete(form.get('code'));
    if (!grant || grant.redirect_uri !== form.get('redirect_uri') || !pkceOk(form.get('code_verifier'), grant.challenge)) {
      return send(res, 400, { error: 'invalid_grant' });
    }
    const now = Math.floor(Date.now() / 1000);
    const { sub, ...rest } = account(grant.login);
    const claims = {
      iss: issuer, aud: 'chatgate-rogue', sub, nonce: grant.nonce, iat: now, exp: now + 300, ...rest,
    };
    if (grant.scenario === 'expired') {
      claims.iat = now - 400;
      claims.exp = now - 200;
    }
    const key = grant.scenario === 'other-key' ? otherKey.privateKey : rogueKey.privateKey;
    const idToken = signEs256(key, { alg: 'ES256', kid: 'rogue-1', typ: 'JWT' }, claims);
    return send(res, 200, { access_token: b64url(crypto.randomBytes(16)), token_type: 'Bearer', id_token: idToken });
  }
  return send(res, 404, { error: 'not_found' });
}

// --- The OpenID Provider ------------------------------------------------------------------
const server = http.createServer();
await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
const base = `http://127.0.0.1:${server.address().port}`;

const nativeClient = (id, alg, path) => ({
  client_id: id,
  client_secret: CLIENT_SECRETS[id],
  application_type: 'native',
  redirect_uris: [`http://127.0.0.1/api/auth/oauth/${path}/callback`, `http://localhost/api/auth/oauth/${path}/callback`],
  grant_types: ['authorization_code'],
  response_types: ['code'],
  id_token_signed_response_alg: alg,
  token_endpoint_auth_method: 'client_secret_basic',
});

const provider = new Provider(base, {
  clients: [nativeClient('chatgate-rs', 'RS256', 'testidp'), nativeClient('chatgate-es', 'ES256', 'testidp-es')],
  jwks: { keys: [privateJwk('rsa', 'rs-1', 'RS256'), privateJwk('ec', 'es-1', 'ES256')] },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  // The scopes' claims go into the ID token (chatgate reads the ID token, not userinfo).
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  // The account's id is the whole login (`sub;email;verified`), and so is its `sub`: the
  // provider requires them equal, and the tests only need one subject per login.
  async findAccount(ctx, id) {
    return { accountId: id, async claims() { return { ...account(id), sub: id }; } };
  },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
});
provider.on('server_error', (ctx, err) => console.error('idp server_error', err));
const oidc = provider.callback();

server.on('request', (req, res) => {
  const url = new URL(req.url, base);
  const handle = url.pathname.startsWith('/github/') ? github(req, res, url)
    : url.pathname.startsWith('/rogue/') ? rogue(req, res, url, `${base}/rogue`)
      : Promise.resolve(oidc(req, res));
  handle.catch((e) => {
    console.error(e);
    if (!res.headersSent) send(res, 500, { error: 'server_error' });
  });
});

console.log(JSON.stringify({ url: base }));
// Whoever started it may stop reading once it has the line: the rest goes to stderr.
process.stdout.on('error', () => {});
console.log = console.info = console.warn = (...args) => console.error(...args);
