-- kakunin PostgreSQL schema, migration 0013: loading a population in bulk (see the SQLite
-- migration of the same number). The card key becomes a named unique index, which a bulk load
-- into an empty store drops and builds again once at the end.
-- Append-only: never edit an applied migration.
DO $$
DECLARE c text;
BEGIN
    SELECT conname INTO c FROM pg_constraint
    WHERE conrelid = 'qualifications'::regclass AND contype = 'u';
    EXECUTE format('ALTER TABLE qualifications DROP CONSTRAINT %I', c);
END $$;
CREATE UNIQUE INDEX qualifications_by_key
    ON qualifications (insurer_number, symbol_key, number_key, branch);

CREATE TABLE bulk_loads (
    id            BIGINT PRIMARY KEY CHECK (id = 1),
    started_at_ms BIGINT NOT NULL
);
