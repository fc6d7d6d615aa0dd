-- Share links that include their conversation's attachments (POST …/shares with
-- include_attachments): the snapshot lists each one by its place in the share (`idx`), and this
-- table says where its bytes are: an image kept in the conversation's Durable Object (the
-- message and its index there), or an uploaded file in R2 (`file_id`). Anyone with the link
-- reads them at /api/shares/{id}/attachments/{idx}; they go with the link.
ALTER TABLE shares ADD COLUMN include_attachments INTEGER NOT NULL DEFAULT 0;
CREATE TABLE share_attachments (
  share_id      TEXT NOT NULL REFERENCES shares(id) ON DELETE CASCADE,
  idx           INTEGER NOT NULL,
  message_id    TEXT NOT NULL,
  message_index INTEGER NOT NULL,
  file_id       TEXT,
  PRIMARY KEY (share_id, idx)
);
