-- Scheduled upkeep (src/upkeep.rs, src/store/upkeep.rs) finds what has ended through these:
-- sessions by the end of their lifetime or their revocation, invitations by their expiry.
-- (Idle sessions are left to their lifetime's end, so last_used_at, written on every use,
-- needs no index.)
CREATE INDEX sessions_by_expiry ON sessions(expires_at);
CREATE INDEX sessions_revoked ON sessions(revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX invitations_by_expiry ON invitations(expires_at);
