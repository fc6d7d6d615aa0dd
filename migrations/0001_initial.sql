-- chatgate: accounts, sessions, organizations, keys, conversations index, usage.
-- Times are integer milliseconds since the Unix epoch (UTC); ids are opaque text.

CREATE TABLE users (
  id            TEXT PRIMARY KEY,
  email         TEXT NOT NULL UNIQUE,          -- normalised: trimmed, lowercase
  name          TEXT NOT NULL,
  password_hash TEXT NOT NULL,                 -- argon2id PHC string
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL
);

CREATE TABLE orgs (
  id         TEXT PRIMARY KEY,
  name       TEXT NOT NULL,
  personal   INTEGER NOT NULL DEFAULT 0,       -- 1 for the org created with a user
  settings   TEXT NOT NULL DEFAULT '{}',       -- JSON, validated by the service
  created_at INTEGER NOT NULL
);

CREATE TABLE memberships (
  org_id    TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  user_id   TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role      TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
  joined_at INTEGER NOT NULL,
  PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_by_user ON memberships(user_id);

CREATE TABLE sessions (
  id           TEXT PRIMARY KEY,
  user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at   INTEGER NOT NULL,
  last_used_at INTEGER NOT NULL,
  expires_at   INTEGER NOT NULL,               -- absolute lifetime
  user_agent   TEXT NOT NULL DEFAULT '',
  ip           TEXT NOT NULL DEFAULT '',
  revoked_at   INTEGER
);
CREATE INDEX sessions_by_user ON sessions(user_id);

-- Refresh tokens, stored only as SHA-256; one live (unused) token per session.
CREATE TABLE refresh_tokens (
  token_hash TEXT PRIMARY KEY,
  session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  created_at INTEGER NOT NULL,
  used_at    INTEGER                            -- set when rotated; presenting it again is reuse
);
CREATE INDEX refresh_tokens_by_session ON refresh_tokens(session_id);

-- Fixed-window counters for login and registration throttling.
CREATE TABLE throttle (
  key          TEXT PRIMARY KEY,
  window_start INTEGER NOT NULL,
  count        INTEGER NOT NULL
);

CREATE TABLE invitations (
  id          TEXT PRIMARY KEY,
  org_id      TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  email       TEXT NOT NULL,
  role        TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
  token_hash  TEXT NOT NULL UNIQUE,
  invited_by  TEXT REFERENCES users(id) ON DELETE SET NULL,
  created_at  INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL,
  accepted_at INTEGER,
  revoked_at  INTEGER
);
CREATE INDEX invitations_by_org ON invitations(org_id);

-- Issued API keys, stored only as SHA-256 with a short display prefix.
CREATE TABLE api_keys (
  id           TEXT PRIMARY KEY,
  org_id       TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name         TEXT NOT NULL,
  prefix       TEXT NOT NULL,
  key_hash     TEXT NOT NULL UNIQUE,
  scopes       TEXT NOT NULL,                   -- JSON array
  created_at   INTEGER NOT NULL,
  expires_at   INTEGER,
  last_used_at INTEGER
);
CREATE INDEX api_keys_by_user ON api_keys(user_id);
CREATE INDEX api_keys_by_org ON api_keys(org_id);

-- Bring-your-own provider keys, AES-256-GCM sealed; owner is a user or an org.
CREATE TABLE provider_keys (
  owner_kind  TEXT NOT NULL CHECK (owner_kind IN ('user', 'org')),
  owner_id    TEXT NOT NULL,
  provider    TEXT NOT NULL,
  key_version INTEGER NOT NULL,                 -- which master key sealed it
  sealed      TEXT NOT NULL,                    -- base64(nonce || ciphertext || tag)
  hint        TEXT NOT NULL,                    -- last four characters, for the masked listing
  updated_at  INTEGER NOT NULL,
  PRIMARY KEY (owner_kind, owner_id, provider)
);

-- The conversations index; the messages live in one Durable Object per conversation.
CREATE TABLE conversations (
  id            TEXT PRIMARY KEY,
  user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  org_id        TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  title         TEXT NOT NULL,
  model         TEXT NOT NULL,
  system_prompt TEXT NOT NULL DEFAULT '',
  created_at    INTEGER NOT NULL,
  last_activity INTEGER NOT NULL
);
CREATE INDEX conversations_by_user_activity ON conversations(user_id, last_activity DESC, id DESC);

-- One row per reply or completion; aggregated by the usage endpoint.
CREATE TABLE usage_events (
  id                TEXT PRIMARY KEY,
  org_id            TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  user_id           TEXT,                       -- NULL once the user is deleted
  api_key_id        TEXT,
  model             TEXT NOT NULL,
  day               TEXT NOT NULL,              -- YYYY-MM-DD (UTC)
  prompt_tokens     INTEGER NOT NULL,
  completion_tokens INTEGER NOT NULL,
  cost_micros       INTEGER NOT NULL,
  created_at        INTEGER NOT NULL
);
CREATE INDEX usage_by_org_day ON usage_events(org_id, day);
