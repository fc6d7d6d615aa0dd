-- Sign-in through OAuth 2.0 / OpenID Connect providers (Google, GitHub, Microsoft, any issuer):
-- the provider accounts linked to users, the sign-ins in progress, and which provider a
-- session was established through. An account made through a provider has no password:
-- its users.password_hash is '' (no hash verifies against it).

-- A provider's account linked to a user: signing in with (provider, subject) is signing in as
-- user_id. `subject` is the provider's stable id of the account (the ID token's `sub`; GitHub's
-- numeric user id), never the email, which can change hands.
CREATE TABLE user_identities (
  id           TEXT PRIMARY KEY,
  user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  provider     TEXT NOT NULL,                   -- the configured provider's id (google, acme…)
  subject      TEXT NOT NULL,
  email        TEXT NOT NULL DEFAULT '',        -- what the provider said at the last sign-in
  created_at   INTEGER NOT NULL,
  last_used_at INTEGER NOT NULL,
  UNIQUE (provider, subject)
);
CREATE INDEX user_identities_by_user ON user_identities(user_id);

-- Sign-ins in progress, 10 minutes, used once: the `state` sent to the provider and the
-- browser's binding cookie, both stored as SHA-256 only (the PKCE verifier and the nonce are
-- derived from the state under the service's key, so nothing secret is stored).
CREATE TABLE oauth_flows (
  state_hash   TEXT PRIMARY KEY,
  provider     TEXT NOT NULL,
  browser_hash TEXT NOT NULL,
  next         TEXT NOT NULL,                   -- the web client's path to return to
  created_at   INTEGER NOT NULL,
  expires_at   INTEGER NOT NULL
);
CREATE INDEX oauth_flows_by_expiry ON oauth_flows(expires_at);

-- The provider a session was signed in through (NULL: a password or another method), for
-- organizations that require their members to sign in with their own provider.
ALTER TABLE sessions ADD COLUMN idp TEXT;
