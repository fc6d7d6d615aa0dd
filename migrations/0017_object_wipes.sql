-- Durable Objects whose data is to be wiped because what named them left D1: the
-- conversations, limiters and webhook dispatchers of a deleted account or organization.
-- Queued in the same batch as the deletion (so none is forgotten, however many there are),
-- wiped at once as far as the deleting request's subrequests allow, the rest by the scheduled
-- upkeep (src/wipes.rs).
CREATE TABLE object_wipes (
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  queued_at INTEGER NOT NULL,
  PRIMARY KEY (kind, name)
);
CREATE INDEX object_wipes_by_age ON object_wipes(queued_at);
