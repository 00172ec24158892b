-- Idempotency keys of write requests: a retried request with the same key gets the stored
-- answer instead of doing its work again. Kept a day.
CREATE TABLE idempotency_keys (
    caller        TEXT   NOT NULL,   -- the client certificate's role and id
    key           TEXT   NOT NULL,   -- the Idempotency-Key header
    fingerprint   TEXT   NOT NULL,   -- SHA-256 of method, path and body
    started_at_ms BIGINT NOT NULL,
    status        INTEGER,           -- NULL while the first request runs
    content_type  TEXT,
    body          BYTEA,
    PRIMARY KEY (caller, key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (started_at_ms);
