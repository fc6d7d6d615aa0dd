-- Voice sessions (src/routes/voice.rs): one row per participant of a LiveKit room chatgate
-- issued the token for, from LiveKit's signed webhooks. A participant is (room sid,
-- participant sid): LiveKit gives a new participant sid at every join, and a replayed event
-- finds its row already there. The user goes with their account (their org's voice minutes
-- stay, as usage_events' do); the org takes its sessions with it.
CREATE TABLE voice_sessions (
  id              TEXT PRIMARY KEY,              -- vs_…
  org_id          TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  user_id         TEXT REFERENCES users(id) ON DELETE SET NULL, -- NULL once the user is deleted
  room            TEXT NOT NULL,                 -- the LiveKit room name: <org id>:<room>
  room_sid        TEXT NOT NULL,
  participant_sid TEXT NOT NULL,
  started_at      INTEGER NOT NULL,
  ended_at        INTEGER,                       -- NULL while the participant is in the room
  UNIQUE (room_sid, participant_sid)
);
CREATE INDEX voice_sessions_by_user ON voice_sessions(user_id, started_at);
CREATE INDEX voice_sessions_by_org ON voice_sessions(org_id, started_at);
CREATE INDEX voice_sessions_open ON voice_sessions(room_sid) WHERE ended_at IS NULL;

-- Conversation retention (settings.conversation_retention_days): the scheduled upkeep finds an
-- org's conversations by their last activity.
CREATE INDEX conversations_by_org_activity ON conversations(org_id, last_activity);
