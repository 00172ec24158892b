-- The registry of client certificates our CA issued: recorded when issued through the
-- operators' API or first seen on a connection. Rows are never deleted; the revocation columns
-- are set once (revocation is final) and nothing else ever changes.
CREATE TABLE client_certificates (
    serial            TEXT    PRIMARY KEY,  -- lowercase hex
    kind              TEXT    NOT NULL,     -- institution | insurer | terminal | admin
    subject           TEXT    NOT NULL,     -- 医療機関コード, 保険者番号 or operator
    not_before_ms     INTEGER NOT NULL,
    not_after_ms      INTEGER NOT NULL,
    recorded_at_ms    INTEGER NOT NULL,
    issued_by         TEXT,                 -- admin:<id>; NULL when first seen in use
    revoked_at_ms     INTEGER,
    revocation_reason TEXT,
    revoked_by        TEXT
) WITHOUT ROWID;
CREATE INDEX client_certificates_by_subject ON client_certificates (kind, subject);
CREATE INDEX client_certificates_revoked ON client_certificates (revoked_at_ms)
    WHERE revoked_at_ms IS NOT NULL;
CREATE TRIGGER client_certificates_no_delete BEFORE DELETE ON client_certificates
BEGIN SELECT RAISE(ABORT, 'client_certificates are never deleted'); END;
CREATE TRIGGER client_certificates_revoked_once BEFORE UPDATE ON client_certificates
WHEN OLD.revoked_at_ms IS NOT NULL OR NEW.revoked_at_ms IS NULL
    OR NEW.serial IS NOT OLD.serial OR NEW.kind IS NOT OLD.kind
    OR NEW.subject IS NOT OLD.subject OR NEW.not_before_ms IS NOT OLD.not_before_ms
    OR NEW.not_after_ms IS NOT OLD.not_after_ms OR NEW.recorded_at_ms IS NOT OLD.recorded_at_ms
    OR NEW.issued_by IS NOT OLD.issued_by
BEGIN SELECT RAISE(ABORT, 'a client certificate only ever gets revoked, once'); END;
