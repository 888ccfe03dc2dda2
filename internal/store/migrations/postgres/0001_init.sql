-- Fluxhook schema, PostgreSQL. Times are timestamptz (microseconds);
-- ids are UUIDv7; tokens and keys are stored only as SHA-256 hashes.

CREATE TABLE users (
    id             UUID PRIMARY KEY,
    email          TEXT NOT NULL,
    name           TEXT NOT NULL DEFAULT '',
    role           TEXT NOT NULL CHECK (role IN ('user', 'dashboard_user', 'dashboard_admin')),
    password_hash  TEXT NOT NULL,
    email_verified BOOLEAN NOT NULL DEFAULT FALSE,
    metadata       JSONB NOT NULL DEFAULT '{}',
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    last_login_at  TIMESTAMPTZ
);
-- Emails are stored lower-cased, so this is a case-insensitive uniqueness.
CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE INDEX users_created_idx ON users (created_at, id);

CREATE TABLE refresh_tokens (
    id         UUID PRIMARY KEY,
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id  UUID NOT NULL,
    token_hash BYTEA NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);

CREATE TABLE one_time_tokens (
    id         UUID PRIMARY KEY,
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL,
    token_hash BYTEA NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);
CREATE INDEX one_time_tokens_user_idx ON one_time_tokens (user_id, purpose);

CREATE TABLE client_keys (
    id                    UUID PRIMARY KEY,
    user_id               UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name                  TEXT NOT NULL,
    description           TEXT,
    key_prefix            TEXT NOT NULL,
    key_hash              BYTEA NOT NULL UNIQUE,
    scopes                JSONB NOT NULL,
    rate_limit_per_minute INTEGER NOT NULL,
    created_at            TIMESTAMPTZ NOT NULL,
    updated_at            TIMESTAMPTZ NOT NULL,
    expires_at            TIMESTAMPTZ,
    revoked_at            TIMESTAMPTZ,
    last_used_at          TIMESTAMPTZ
);
CREATE INDEX client_keys_user_idx ON client_keys (user_id, created_at DESC);

CREATE TABLE webhooks (
    id                     UUID PRIMARY KEY,
    user_id                UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    url                    TEXT NOT NULL,
    events                 JSONB NOT NULL,
    description            TEXT,
    is_active              BOOLEAN NOT NULL DEFAULT TRUE,
    secret_enc             BYTEA NOT NULL,
    prev_secret_enc        BYTEA,
    prev_secret_expires_at TIMESTAMPTZ,
    rate_limit_per_second  INTEGER,
    headers                JSONB,
    disabled_reason        TEXT,
    failing_since          TIMESTAMPTZ,
    created_at             TIMESTAMPTZ NOT NULL,
    updated_at             TIMESTAMPTZ NOT NULL
);
CREATE INDEX webhooks_user_idx ON webhooks (user_id, created_at DESC);

CREATE TABLE invitations (
    id          UUID PRIMARY KEY,
    email       TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('dashboard_user', 'dashboard_admin')),
    token_hash  BYTEA NOT NULL UNIQUE,
    token_enc   BYTEA NOT NULL,
    invited_by  UUID REFERENCES users (id) ON DELETE SET NULL,
    accepted_at TIMESTAMPTZ,
    expires_at  TIMESTAMPTZ NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ
);
CREATE INDEX invitations_email_idx ON invitations (email);
CREATE INDEX invitations_created_idx ON invitations (created_at DESC);

-- The transactional outbox: a domain event is inserted in the same
-- transaction as the change that caused it; the relay publishes rows in
-- seq order and stamps published_at after JetStream's PubAck.
CREATE TABLE outbox (
    seq          BIGSERIAL PRIMARY KEY,
    id           UUID NOT NULL UNIQUE,
    event        TEXT NOT NULL,
    user_id      UUID,
    payload      BYTEA NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    published_at TIMESTAMPTZ
);
CREATE INDEX outbox_pending_idx ON outbox (seq) WHERE published_at IS NULL;
CREATE INDEX outbox_published_idx ON outbox (published_at) WHERE published_at IS NOT NULL;

-- One row per delivery attempt. delivery_id is constant across the
-- attempts of one delivery (it is the webhook-id header). No foreign key to
-- webhooks: attempts are written in batches off the hot path and must not
-- fail because a webhook was deleted meanwhile; retention prunes them.
CREATE TABLE delivery_attempts (
    id              UUID PRIMARY KEY,
    delivery_id     UUID NOT NULL,
    webhook_id      UUID NOT NULL,
    event_id        UUID NOT NULL,
    event           TEXT NOT NULL,
    payload         BYTEA NOT NULL,
    status          TEXT NOT NULL,
    attempt         INTEGER NOT NULL,
    status_code     INTEGER,
    response_body   TEXT,
    error           TEXT,
    duration_ms     INTEGER,
    created_at      TIMESTAMPTZ NOT NULL,
    delivered_at    TIMESTAMPTZ,
    next_attempt_at TIMESTAMPTZ
);
CREATE INDEX delivery_attempts_webhook_idx ON delivery_attempts (webhook_id, created_at DESC);
CREATE INDEX delivery_attempts_delivery_idx ON delivery_attempts (delivery_id, attempt);
CREATE INDEX delivery_attempts_created_idx ON delivery_attempts (created_at);
