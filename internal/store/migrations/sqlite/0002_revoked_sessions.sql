-- Sessions (refresh-token families) that ended — sign-out, refresh-token
-- reuse, a password change, a deleted account — kept while an access
-- token of theirs could still be presented. Every api replica holds these
-- ids in memory and refuses such tokens at once; this table is what a
-- replica loads at start and re-reads in case it missed an announcement.
CREATE TABLE revoked_sessions (
    id         TEXT PRIMARY KEY,          -- the session id, the access token's sid
    ended_at   TEXT NOT NULL,
    expires_at TEXT NOT NULL              -- when its last access token stops working anyway
);
CREATE INDEX revoked_sessions_ended_idx ON revoked_sessions (ended_at);
CREATE INDEX revoked_sessions_expires_idx ON revoked_sessions (expires_at);
