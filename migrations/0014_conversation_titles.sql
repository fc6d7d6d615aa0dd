-- Who named a conversation (src/conversation/title.rs): `default` (nobody yet: a title is
-- generated after its first reply), `generated` (that title), `user` (set by hand, at creation
-- or by PATCH: never overwritten). Conversations from before keep the titles they have.
ALTER TABLE conversations ADD COLUMN title_source TEXT NOT NULL DEFAULT 'default';
UPDATE conversations SET title_source = 'user';
