-- The service operator's console (src/routes/admin.rs).
-- A disabled account (set by a service admin) cannot sign in, refresh, or use its API keys;
-- its sessions are revoked when it is disabled.
ALTER TABLE users ADD COLUMN disabled_at INTEGER;
-- Whether the service's own provider keys (OPENAI_API_KEY…) serve the org: 1 (the default)
-- unless a service admin switched them off for it. Not an org setting: its admins cannot
-- turn it back on.
ALTER TABLE orgs ADD COLUMN service_keys INTEGER NOT NULL DEFAULT 1;
-- The console's service-wide usage, by day, and its audit log filtered by type.
CREATE INDEX usage_by_day ON usage_events(day);
CREATE INDEX audit_by_type ON audit_events(type, created_at, id);
