-- kakunin PostgreSQL schema, migration 0003: consents to share medical information.
-- Append-only: never edit an applied migration.

-- Every consent given at a card reader: per person (agency pseudonym), institution and
-- category, valid until expires_at. Append-only; the newest per key is the one in force.
CREATE TABLE consents (
    id               BIGSERIAL PRIMARY KEY,
    pseudonym        TEXT   NOT NULL,
    institution_code TEXT   NOT NULL,
    category         TEXT   NOT NULL,   -- medications | treatments | surgeries | checkups | limit
    given_at_ms      BIGINT NOT NULL,
    expires_at_ms    BIGINT NOT NULL
);
CREATE INDEX consents_by_person ON consents (pseudonym, institution_code, category, given_at_ms);
CREATE TRIGGER consents_append_only BEFORE UPDATE OR DELETE ON consents
    FOR EACH ROW EXECUTE FUNCTION kakunin_append_only();
