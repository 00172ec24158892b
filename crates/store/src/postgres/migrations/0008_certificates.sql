-- The registry of client certificates our CA issued: recorded when issued through the
-- operators' API or first seen on a connection. Rows are never deleted; the revocation columns
-- are set once (revocation is final) and nothing else ever changes.
CREATE TABLE client_certificates (
    serial            TEXT   PRIMARY KEY,  -- lowercase hex
    kind              TEXT   NOT NULL,     -- institution | insurer | terminal | admin
    subject           TEXT   NOT NULL,     -- 医療機関コード, 保険者番号 or operator
    not_before_ms     BIGINT NOT NULL,
    not_after_ms      BIGINT NOT NULL,
    recorded_at_ms    BIGINT NOT NULL,
    issued_by         TEXT,                -- admin:<id>; NULL when first seen in use
    revoked_at_ms     BIGINT,
    revocation_reason TEXT,
    revoked_by        TEXT
);
CREATE INDEX client_certificates_by_subject ON client_certificates (kind, subject);
CREATE INDEX client_certificates_revoked ON client_certificates (revoked_at_ms)
    WHERE revoked_at_ms IS NOT NULL;
CREATE TRIGGER client_certificates_kept BEFORE DELETE ON client_certificates
    FOR EACH ROW EXECUTE FUNCTION kakunin_append_only();
CREATE FUNCTION kakunin_certificate_revoked_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.revoked_at_ms IS NOT NULL OR NEW.revoked_at_ms IS NULL
        OR (NEW.serial, NEW.kind, NEW.subject, NEW.not_before_ms, NEW.not_after_ms,
            NEW.recorded_at_ms) IS DISTINCT FROM
           (OLD.serial, OLD.kind, OLD.subject, OLD.not_before_ms, OLD.not_after_ms,
            OLD.recorded_at_ms)
        OR NEW.issued_by IS DISTINCT FROM OLD.issued_by THEN
        RAISE EXCEPTION 'a client certificate only ever gets revoked, once';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER client_certificates_revoked_once BEFORE UPDATE ON client_certificates
    FOR EACH ROW EXECUTE FUNCTION kakunin_certificate_revoked_once();
