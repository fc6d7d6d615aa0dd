-- Who named a conversation (src/conversation/title.rs): `default` (nobody yet: a title is
-- generated after its first reply), `generated` (that title), `user` (set by hand, at creation
-- or by PATCH: never overwritten). Conversations from before keep the titles they have.
ALTER TABLE conversations ADD COLUMN title_source TEXT NOT NULL DEFAULT 'default';
UPDATE conversations SET title_source = 'user';

-- A conversation's model settings (src/routes/conversations.rs), sent with each of its replies;
-- NULL: the provider's default (a send's own `max_tokens` / `reasoning_effort` win).
ALTER TABLE conversations ADD COLUMN temperature REAL;
ALTER TABLE conversations ADD COLUMN max_tokens INTEGER;
ALTER TABLE conversations ADD COLUMN reasoning_effort TEXT;

-- Presets (src/routes/presets.rs): a model with a system prompt and settings, a user's own
-- (user_id) or shared in an organization (org_id: its members read them, admins and owners
-- write them). Exactly one owner.
CREATE TABLE presets (
  id               TEXT PRIMARY KEY,
  user_id          TEXT REFERENCES users(id) ON DELETE CASCADE,
  org_id           TEXT REFERENCES orgs(id) ON DELETE CASCADE,
  name             TEXT NOT NULL,
  model            TEXT NOT NULL,
  system_prompt    TEXT NOT NULL DEFAULT '',
  temperature      REAL,
  max_tokens       INTEGER,
  reasoning_effort TEXT,
  created_at       INTEGER NOT NULL,
  CHECK ((user_id IS NULL) <> (org_id IS NULL))
);
CREATE INDEX presets_by_user ON presets(user_id, created_at);
CREATE INDEX presets_by_org ON presets(org_id, created_at);
