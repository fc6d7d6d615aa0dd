-- Files uploaded for chat (POST /api/files): the bytes in the FILES R2 bucket under r2_key,
-- the rest here. A row is written `pending` with the size its upload declared before any byte
-- goes to R2 (the org's quota is counted on those rows, in the same statement: exact under
-- concurrent uploads), and turns `ready` once R2 has the bytes. A file belongs to its owner;
-- once sent with a message it belongs to that conversation too (conversation_id), and those
-- who can read the conversation can read it. Deleting the conversation, the owner or the org
-- deletes the rows and their R2 objects (src/store/files.rs).
CREATE TABLE files (
  id TEXT PRIMARY KEY,
  owner_id TEXT NOT NULL,
  org_id TEXT NOT NULL,
  conversation_id TEXT,
  name TEXT NOT NULL,
  media_type TEXT NOT NULL,
  size INTEGER NOT NULL,
  r2_key TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending',
  created_at INTEGER NOT NULL
);
CREATE INDEX files_by_org ON files(org_id);
CREATE INDEX files_by_owner ON files(owner_id);
CREATE INDEX files_by_conversation ON files(conversation_id);
