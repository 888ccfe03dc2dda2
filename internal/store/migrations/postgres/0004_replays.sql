-- Replays and bulk retries of failed deliveries (POST /webhooks/{id}/replay,
-- /retry-failed): their progress, and the lease of the dispatcher running
-- one, so that several replicas never run the same replay at once and a
-- replay whose runner died is taken up again from its cursor.
CREATE TABLE replays (
    id             UUID PRIMARY KEY,
    webhook_id     UUID NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    kind           TEXT NOT NULL,            -- replay | retry_failed
    since_at       TIMESTAMPTZ,
    until_at       TIMESTAMPTZ,
    status_filter  TEXT,                     -- a delivery status, or missed
    state          TEXT NOT NULL,            -- pending | running | done | cancelled | failed
    resume_cursor  TEXT NOT NULL DEFAULT '', -- where a runner takes up again
    events_scanned BIGINT NOT NULL DEFAULT 0,
    events_matched BIGINT NOT NULL DEFAULT 0,
    queued         BIGINT NOT NULL DEFAULT 0,
    error          TEXT,
    lease_owner    TEXT,
    lease_until    TIMESTAMPTZ,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    started_at     TIMESTAMPTZ,
    finished_at    TIMESTAMPTZ
);
-- One active replay per webhook: a second one would only send the same
-- deliveries twice as fast.
CREATE UNIQUE INDEX replays_active_idx ON replays (webhook_id) WHERE state IN ('pending', 'running');
CREATE INDEX replays_webhook_idx ON replays (webhook_id, created_at);
-- What runners look for: active replays, by when they may be claimed.
CREATE INDEX replays_claim_idx ON replays (state, lease_until);
