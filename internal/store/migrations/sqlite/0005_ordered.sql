-- Ordered delivery (API.md "Ordered delivery"): a webhook with ordering
-- 'fifo' gets its events one at a time, in the order they were accepted,
-- per ordering key. NULL: no ordering (the DELIVERIES stream).
ALTER TABLE webhooks ADD COLUMN ordering TEXT;

-- The jobs of ordered webhooks, waiting in their key's queue. The
-- dispatcher writes them instead of publishing them to DELIVERIES; the
-- worker's ordered lane delivers the head of each key (the lowest
-- event_seq, event_index: the event's place in the EVENTS stream and in
-- its message) and deletes it once delivered or given up. delivery_id
-- makes a redelivered event's insert a no-op.
CREATE TABLE ordered_jobs (
    delivery_id      TEXT PRIMARY KEY,
    webhook_id       TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    ordering_key     TEXT NOT NULL,
    event_seq        INTEGER NOT NULL,
    event_index      INTEGER NOT NULL,
    event_id         TEXT NOT NULL,
    event            TEXT NOT NULL,
    user_id          TEXT,
    payload          BLOB NOT NULL,
    event_at         TEXT,
    attempt          INTEGER NOT NULL,
    parked           INTEGER NOT NULL DEFAULT 0,
    first_attempt_at TEXT,
    again            BOOLEAN NOT NULL DEFAULT 0,
    created_at       TEXT NOT NULL
);
CREATE INDEX ordered_jobs_key_idx ON ordered_jobs (webhook_id, ordering_key, event_seq, event_index);

-- One row per (webhook, key) that has had jobs: when its head is due
-- (NULL: nothing queued), which worker holds it and until when (a lease:
-- one worker at a time delivers a key), and a version every enqueue
-- bumps, so that a key emptied by the lane is never marked idle over a
-- job enqueued meanwhile.
CREATE TABLE ordered_keys (
    webhook_id   TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    ordering_key TEXT NOT NULL,
    next_at      TEXT,
    version      INTEGER NOT NULL DEFAULT 0,
    lease_owner  TEXT,
    lease_until  TEXT,
    PRIMARY KEY (webhook_id, ordering_key)
);
CREATE INDEX ordered_keys_due_idx ON ordered_keys (next_at) WHERE next_at IS NOT NULL;
