-- Throttle rows say when their window ends, so expired ones can be pruned in bounded batches.
ALTER TABLE throttle ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX throttle_by_expiry ON throttle(expires_at);

-- The uniqueness key of an email: NFKC, lower-case, the domain in its ASCII (IDNA) form;
-- `email` keeps the address as the user typed it. Addresses stored before were trimmed and
-- lower-cased, which is already the key of every ASCII address; a non-ASCII one is found by
-- that older form and re-keyed at its next login (src/store/users.rs).
ALTER TABLE users ADD COLUMN email_key TEXT NOT NULL DEFAULT '';
UPDATE users SET email_key = email;
CREATE UNIQUE INDEX users_by_email_key ON users(email_key);
