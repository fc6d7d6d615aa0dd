-- chatgate as an OpenID Provider (src/routes/openid.rs, src/store/oauth.rs): the OAuth clients
-- an organization registers, the consents its users give them, and the authorization codes.
-- The tokens a client holds are a session of the user marked with the client (below), so a
-- client's refresh tokens rotate, and their reuse revokes the family, exactly as a person's.
CREATE TABLE oauth_clients (
  id            TEXT PRIMARY KEY,              -- the client_id
  org_id        TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  name          TEXT NOT NULL,
  redirect_uris TEXT NOT NULL,                 -- JSON array of strings, matched exactly
  post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]',
  type          TEXT NOT NULL CHECK (type IN ('confidential', 'public')),
  scopes        TEXT NOT NULL,                 -- the scopes it may ask for, space-separated
  any_user      INTEGER NOT NULL DEFAULT 0,    -- 1: any chatgate user may authorize it
  secret_hash   TEXT,                          -- SHA-256 (hex) of the secret; NULL for a public client
  created_by    TEXT,
  created_at    INTEGER NOT NULL
);
CREATE INDEX oauth_clients_by_org ON oauth_clients(org_id, created_at);

-- What a user allowed a client (its consent screen is skipped while it covers the scopes).
CREATE TABLE oauth_consents (
  user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  client_id  TEXT NOT NULL REFERENCES oauth_clients(id) ON DELETE CASCADE,
  scopes     TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (user_id, client_id)
);
CREATE INDEX oauth_consents_by_client ON oauth_consents(client_id);

-- Authorization codes: single use (used_at), 60 s, bound to the client, the redirect URI and
-- the PKCE challenge. session_id is the grant the code was exchanged for (revoked when the
-- code is presented again). Issuing a code deletes a batch of those past an hour.
CREATE TABLE oauth_codes (
  code_hash      TEXT PRIMARY KEY,
  client_id      TEXT NOT NULL REFERENCES oauth_clients(id) ON DELETE CASCADE,
  user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  redirect_uri   TEXT NOT NULL,
  scope          TEXT NOT NULL,
  nonce          TEXT,
  code_challenge TEXT,
  auth_time      INTEGER NOT NULL,
  expires_at     INTEGER NOT NULL,
  used_at        INTEGER,
  session_id     TEXT
);
CREATE INDEX oauth_codes_by_expiry ON oauth_codes(expires_at);

-- A client's grant is a session of its user: client_id says whose (NULL: the person's own
-- session), scope what it was granted, auth_time when the user signed in to grant it.
ALTER TABLE sessions ADD COLUMN client_id TEXT;
ALTER TABLE sessions ADD COLUMN scope TEXT;
ALTER TABLE sessions ADD COLUMN auth_time INTEGER;
CREATE INDEX sessions_by_client ON sessions(client_id, user_id) WHERE client_id IS NOT NULL;
