-- The tamper-evident audit chains (see src/audit.rs): each access-log entry and each
-- administrative event carries the hash linking it to the one before (by id). Entries written
-- before this migration have no chain hash. Appends take the chain's head row lock, so ids
-- grow along the chain across every node.
ALTER TABLE access_log ADD COLUMN chain_hash TEXT;

-- Administrative events: imports, link decisions, declarations, certificates, registrations.
-- No personal data: targets are insurer numbers, institution codes, ids and serials.
CREATE TABLE admin_events (
    id         BIGINT PRIMARY KEY,
    at_ms      BIGINT NOT NULL,
    actor      TEXT   NOT NULL,   -- admin:<id>, insurer:<number>, institution:<code>, system
    action     TEXT   NOT NULL,
    target     TEXT   NOT NULL,
    detail     TEXT   NOT NULL,   -- JSON
    chain_hash TEXT   NOT NULL
);
CREATE TRIGGER admin_events_append_only BEFORE UPDATE OR DELETE ON admin_events
    FOR EACH ROW EXECUTE FUNCTION kakunin_append_only();

-- Each chain's newest entry (the writers' lock and starting point; the verifier never trusts it).
CREATE TABLE audit_heads (
    chain      TEXT   PRIMARY KEY,   -- access | admin
    entry_id   BIGINT NOT NULL,      -- 0: empty
    chain_hash TEXT   NOT NULL       -- '': empty
);
INSERT INTO audit_heads (chain, entry_id, chain_hash) VALUES ('access', 0, ''), ('admin', 0, '');

-- Signed checkpoints of the chain heads.
CREATE TABLE audit_checkpoints (
    id         BIGSERIAL PRIMARY KEY,
    at_ms      BIGINT NOT NULL,
    chain      TEXT   NOT NULL,
    entry_id   BIGINT NOT NULL,
    chain_hash TEXT   NOT NULL,
    key_id     TEXT   NOT NULL,
    signature  TEXT   NOT NULL
);
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION kakunin_append_only();
