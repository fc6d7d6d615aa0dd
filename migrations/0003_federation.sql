-- Bridges to other systems: embed tickets, per-org webhook endpoints, the audit log.
-- (Webhook deliveries and their attempts live in the Dispatcher Durable Objects.)

-- Single-use tickets that let an embedding site open a session: 60 s, stored as SHA-256.
CREATE TABLE embed_tickets (
  ticket_hash TEXT PRIMARY KEY,
  user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  org_id      TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  origin      TEXT NOT NULL,                    -- the only Origin that may exchange it
  created_at  INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL,
  used_at     INTEGER                           -- set by the one exchange that wins
);
CREATE INDEX embed_tickets_by_expiry ON embed_tickets(expires_at);

-- One webhook endpoint per org. The signing secret is AES-256-GCM sealed like provider keys.
CREATE TABLE webhooks (
  org_id        TEXT PRIMARY KEY REFERENCES orgs(id) ON DELETE CASCADE,
  url           TEXT NOT NULL,
  events        TEXT NOT NULL,                  -- JSON array of subscribed event types
  key_version   INTEGER NOT NULL,               -- which master key sealed the secret
  sealed_secret TEXT NOT NULL,                  -- base64(nonce || ciphertext || tag)
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL
);

-- Security events, kept 90 days. No foreign keys: the log outlives what it mentions.
CREATE TABLE audit_events (
  id         TEXT PRIMARY KEY,
  created_at INTEGER NOT NULL,
  type       TEXT NOT NULL,                     -- e.g. login.failed, key.created
  actor_id   TEXT,                              -- the user who acted; NULL when unauthenticated
  subject_id TEXT,                              -- the user acted upon, when not the actor
  org_id     TEXT,
  ip         TEXT NOT NULL DEFAULT '',
  user_agent TEXT NOT NULL DEFAULT '',
  details    TEXT NOT NULL DEFAULT '{}'         -- JSON; never a secret
);
CREATE INDEX audit_by_actor ON audit_events(actor_id, created_at, id);
CREATE INDEX audit_by_subject ON audit_events(subject_id, created_at, id);
CREATE INDEX audit_by_org ON audit_events(org_id, created_at, id);
CREATE INDEX audit_by_time ON audit_events(created_at);
