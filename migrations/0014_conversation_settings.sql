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
