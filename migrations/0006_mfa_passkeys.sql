-- Two-factor authentication (TOTP, recovery codes, the ticket between the two steps of a
-- sign-in) and passkeys (WebAuthn credentials and their challenges). No secret in clear: the
-- TOTP seed is sealed under the master key, codes, tickets and challenges are SHA-256 hashes.

-- A user's TOTP factor; confirmed_at NULL while the enrolment waits for its first code.
CREATE TABLE totp_factors (
  user_id       TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
  key_version   INTEGER NOT NULL,                -- the ENCRYPTION_KEYS version that sealed it
  sealed_secret TEXT NOT NULL,                   -- base64(nonce || AES-256-GCM(seed))
  created_at    INTEGER NOT NULL,
  confirmed_at  INTEGER,
  last_step     INTEGER                          -- the newest 30-s step whose code was accepted
);

-- One-time recovery codes, given at enrolment (SHA-256 of user id and code).
CREATE TABLE recovery_codes (
  user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  code_hash  TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  used_at    INTEGER,
  PRIMARY KEY (user_id, code_hash)
);

-- The ticket a sign-in gets after its first factor when a second one is due: 5 minutes,
-- used once (for the second step only).
CREATE TABLE mfa_tickets (
  token_hash   TEXT PRIMARY KEY,
  user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  first_factor TEXT NOT NULL,                    -- `password`, or how else the user proved who they are
  created_at   INTEGER NOT NULL,
  expires_at   INTEGER NOT NULL,
  used_at      INTEGER
);
CREATE INDEX mfa_tickets_by_expiry ON mfa_tickets(expires_at);

-- Passkeys: a credential's public key (COSE) is no secret; its id is unique across users.
CREATE TABLE passkeys (
  id              TEXT PRIMARY KEY,               -- pk_…
  user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  credential_id   TEXT NOT NULL UNIQUE,           -- base64url
  public_key      TEXT NOT NULL,                  -- base64url of the COSE_Key
  algorithm       INTEGER NOT NULL,               -- COSE: -7 ES256, -8/-19 EdDSA, -257 RS256
  sign_count      INTEGER NOT NULL,
  backup_eligible INTEGER NOT NULL,
  backed_up       INTEGER NOT NULL,
  transports      TEXT NOT NULL,                  -- JSON array, as the browser reported them
  aaguid          TEXT NOT NULL,                  -- the authenticator model (hex), zeros when hidden
  name            TEXT NOT NULL,
  created_at      INTEGER NOT NULL,
  last_used_at    INTEGER
);
CREATE INDEX passkeys_by_user ON passkeys(user_id, created_at);

-- WebAuthn challenges: SHA-256 only, single use, 5 minutes, for one purpose and (except a
-- sign-in with a discoverable passkey) one user; an MFA step's is bound to its ticket too.
CREATE TABLE webauthn_challenges (
  challenge_hash TEXT PRIMARY KEY,
  purpose        TEXT NOT NULL CHECK (purpose IN ('register', 'sign_in', 'second_factor')),
  user_id        TEXT REFERENCES users(id) ON DELETE CASCADE,
  ticket_hash    TEXT,
  created_at     INTEGER NOT NULL,
  expires_at     INTEGER NOT NULL,
  used_at        INTEGER
);
CREATE INDEX webauthn_challenges_by_expiry ON webauthn_challenges(expires_at);
