-- The tamper-evident audit chains (see src/audit.rs): each access-log entry and each
-- administrative event carries the hash linking it to the one before (by id). Entries written
-- before this migration have no chain hash.
ALTER TABLE access_log ADD COLUMN chain_hash TEXT;

-- Administrative events: imports, link decisions, declarations, certificates, registrations.
-- No personal data: targets are insurer numbers, institution codes, ids and serials.
CREATE TABLE admin_events (
    id         INTEGER PRIMARY KEY,
    at_ms      INTEGER NOT NULL,
    actor      TEXT    NOT NULL,   -- admin:<id>, insurer:<number>, institution:<code>, system
    action     TEXT    NOT NULL,
    target     TEXT    NOT NULL,
    detail     TEXT    NOT NULL,   -- JSON
    chain_hash TEXT    NOT NULL
);
CREATE TRIGGER admin_events_no_update BEFORE UPDATE ON admin_events
BEGIN SELECT RAISE(ABORT, 'admin_events is append-only'); END;
CREATE TRIGGER admin_events_no_delete BEFORE DELETE ON admin_events
BEGIN SELECT RAISE(ABORT, 'admin_events is append-only'); END;

-- Each chain's newest entry (the writer's starting point; the verifier never trusts it).
CREATE TABLE audit_heads (
    chain      TEXT    PRIMARY KEY,   -- access | admin
    entry_id   INTEGER NOT NULL,      -- 0: empty
    chain_hash TEXT    NOT NULL       -- '': empty
) WITHOUT ROWID;
INSERT INTO audit_heads (chain, entry_id, chain_hash) VALUES ('access', 0, ''), ('admin', 0, '');

-- Signed checkpoints of the chain heads.
CREATE TABLE audit_checkpoints (
    id         INTEGER PRIMARY KEY,
    at_ms      INTEGER NOT NULL,
    chain      TEXT    NOT NULL,
    entry_id   INTEGER NOT NULL,
    chain_hash TEXT    NOT NULL,
    key_id     TEXT    NOT NULL,
    signature  TEXT    NOT NULL
);
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;
