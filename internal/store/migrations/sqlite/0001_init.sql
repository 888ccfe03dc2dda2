-- Fluxhook schema, SQLite. Times are fixed-width RFC 3339 UTC text
-- (microseconds), so text order is time order;
-- ids are TEXTv7; tokens and keys are stored only as SHA-256 hashes.

CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    email          TEXT NOT NULL,
    name           TEXT NOT NULL DEFAULT '',
    role           TEXT NOT NULL CHECK (role IN ('user', 'dashboard_user', 'dashboard_admin')),
    password_hash  TEXT NOT NULL,
    email_verified BOOLEAN NOT NULL DEFAULT 0,
    metadata       TEXT NOT NULL DEFAULT '{}',
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    last_login_at  TEXT
);
-- Emails are stored lower-cased, so this is a case-insensitive uniqueness.
CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE INDEX users_created_idx ON users (created_at, id);

CREATE TABLE refresh_tokens (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id  TEXT NOT NULL,
    token_hash BLOB NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT,
    revoked_at TEXT
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);

CREATE TABLE one_time_tokens (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL,
    token_hash BLOB NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT
);
CREATE INDEX one_time_tokens_user_idx ON one_time_tokens (user_id, purpose);

CREATE TABLE client_keys (
    id                    TEXT PRIMARY KEY,
    user_id               TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name                  TEXT NOT NULL,
    description           TEXT,
    key_prefix            TEXT NOT NULL,
    key_hash              BLOB NOT NULL UNIQUE,
    scopes                TEXT NOT NULL,
    rate_limit_per_minute INTEGER NOT NULL,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL,
    expires_at            TEXT,
    revoked_at            TEXT,
    last_used_at          TEXT
);
CREATE INDEX client_keys_user_idx ON client_keys (user_id, created_at DESC);

CREATE TABLE webhooks (
    id                     TEXT PRIMARY KEY,
    user_id                TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    url                    TEXT NOT NULL,
    events                 TEXT NOT NULL,
    description            TEXT,
    is_active              BOOLEAN NOT NULL DEFAULT 1,
    secret_enc             BLOB NOT NULL,
    prev_secret_enc        BLOB,
    prev_secret_expires_at TEXT,
    rate_limit_per_second  INTEGER,
    headers                TEXT,
    disabled_reason        TEXT,
    failing_since          TEXT,
    created_at             TEXT NOT NULL,
    updated_at             TEXT NOT NULL
);
CREATE INDEX webhooks_user_idx ON webhooks (user_id, created_at DESC);

CREATE TABLE invitations (
    id          TEXT PRIMARY KEY,
    email       TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('dashboard_user', 'dashboard_admin')),
    token_hash  BLOB NOT NULL UNIQUE,
    token_enc   BLOB NOT NULL,
    invited_by  TEXT REFERENCES users (id) ON DELETE SET NULL,
    accepted_at TEXT,
    expires_at  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);
CREATE INDEX invitations_email_idx ON invitations (email);
CREATE INDEX invitations_created_idx ON invitations (created_at DESC);

-- The transactional outbox: a domain event is inserted in the same
-- transaction as the change that caused it; the relay publishes rows in
-- seq order and stamps published_at after JetStream's PubAck.
CREATE TABLE outbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    event        TEXT NOT NULL,
    user_id      TEXT,
    payload      BLOB NOT NULL,
    created_at   TEXT NOT NULL,
    published_at TEXT
);
CREATE INDEX outbox_pending_idx ON outbox (seq) WHERE published_at IS NULL;
CREATE INDEX outbox_published_idx ON outbox (published_at) WHERE published_at IS NOT NULL;

-- One row per delivery attempt. delivery_id is constant across the
-- attempts of one delivery (it is the webhook-id header). No foreign key to
-- webhooks: attempts are written in batches off the hot path and must not
-- fail because a webhook was deleted meanwhile; retention prunes them.
CREATE TABLE delivery_attempts (
    id              TEXT PRIMARY KEY,
    delivery_id     TEXT NOT NULL,
    webhook_id      TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    event           TEXT NOT NULL,
    payload         BLOB NOT NULL,
    status          TEXT NOT NULL,
    attempt         INTEGER NOT NULL,
    status_code     INTEGER,
    response_body   TEXT,
    error           TEXT,
    duration_ms     INTEGER,
    created_at      TEXT NOT NULL,
    delivered_at    TEXT,
    next_attempt_at TEXT
);
CREATE INDEX delivery_attempts_webhook_idx ON delivery_attempts (webhook_id, created_at DESC);
CREATE INDEX delivery_attempts_delivery_idx ON delivery_attempts (delivery_id, attempt);
CREATE INDEX delivery_attempts_created_idx ON delivery_attempts (created_at);
