-- Email: verified addresses, single-use links (verification, address change, password reset)
-- and, for local development only, the dev mailbox.

-- When the address was proven by a link sent to it; NULL: not (yet) verified. Accounts made
-- before this migration start unverified: nobody has proven their address.
ALTER TABLE users ADD COLUMN email_verified_at INTEGER;

-- Links sent by mail: 256-bit tokens stored as SHA-256 only, used at most once.
CREATE TABLE email_tokens (
  token_hash TEXT PRIMARY KEY,
  user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  purpose    TEXT NOT NULL CHECK (purpose IN ('verify_email', 'change_email', 'reset_password')),
  email      TEXT NOT NULL,                     -- where the link went, as typed
  email_key  TEXT NOT NULL,                     -- its key (Email::key): the address it proves
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at    INTEGER                            -- set by the one use that wins (or a revocation)
);
CREATE INDEX email_tokens_by_user ON email_tokens(user_id, purpose);
CREATE INDEX email_tokens_by_expiry ON email_tokens(expires_at);

-- What would have been sent, kept while DEV_MAILBOX=on (never in production): the mail
-- itself, links included.
CREATE TABLE dev_mailbox (
  id         TEXT PRIMARY KEY,
  to_email   TEXT NOT NULL,
  to_key     TEXT NOT NULL,                     -- Email::key of to_email, for ?to=
  subject    TEXT NOT NULL,
  text       TEXT NOT NULL,
  html       TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX dev_mailbox_by_time ON dev_mailbox(created_at);
