-- kakunin SQLite schema, migration 0013: loading a population in bulk.
-- Append-only: never edit an applied migration.
--
-- A national population (126 M qualifications) cannot be loaded row by row into indexes whose
-- keys arrive in random order: once the indexes outgrow memory, every row costs random reads.
-- A bulk load into an empty store therefore appends the rows and builds the two such indexes
-- (the card key and the birth-date search) once at the end, by sorting. The card key was a
-- UNIQUE clause of the table, which SQLite cannot drop; here it becomes a named unique index,
-- the same constraint. The table is rebuilt the documented way (foreign keys are off while
-- migrations run and checked before each one commits).
CREATE TABLE qualifications_keyed (
    id                 INTEGER PRIMARY KEY,
    insurer_number     TEXT    NOT NULL,
    symbol_key         TEXT    NOT NULL,   -- '' when the card has no 記号
    number_key         TEXT    NOT NULL,
    branch             TEXT    NOT NULL,   -- '' when the card has no 枝番
    current_version_id INTEGER NOT NULL,
    created_import_id  INTEGER NOT NULL REFERENCES imports(id)
);
INSERT INTO qualifications_keyed
    SELECT id, insurer_number, symbol_key, number_key, branch, current_version_id, created_import_id
    FROM qualifications;
DROP TABLE qualifications;
ALTER TABLE qualifications_keyed RENAME TO qualifications;
CREATE UNIQUE INDEX qualifications_by_key
    ON qualifications (insurer_number, symbol_key, number_key, branch);

-- A bulk load in progress (at most one row). While it exists the two indexes above are absent;
-- finishing the load, or opening the store after a crash during one, builds them and deletes
-- the row.
CREATE TABLE bulk_loads (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    started_at_ms INTEGER NOT NULL
);
