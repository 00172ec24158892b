-- kakunin SQLite schema, migration 0005: 照会番号 and 一括照会 (batch inquiries).
-- Append-only: never edit an applied migration.

-- An institution's 照会番号 (its own patient id, e.g. 診察券番号) for a qualification; a new
-- registration for the same qualification replaces it. A person's other qualifications find it
-- through person_links (so it survives a change of insurer).
CREATE TABLE reference_numbers (
    institution_code TEXT    NOT NULL,
    qualification_id INTEGER NOT NULL REFERENCES qualifications(id),
    reference_number TEXT    NOT NULL,
    registered_at_ms INTEGER NOT NULL,
    PRIMARY KEY (institution_code, qualification_id)
) WITHOUT ROWID;

-- A submitted 一括照会: the request as the API received it and, once every item is answered,
-- the result document and its counts. The documents hold personal data: purged after days.
-- AUTOINCREMENT: the id is the API's 受付番号, never reused after a purge. The JSON documents
-- are the last columns so that listings and lookups never read their overflow pages.
CREATE TABLE batch_inquiries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    institution_code TEXT    NOT NULL,
    submitted_at_ms  INTEGER NOT NULL,
    items            INTEGER NOT NULL,
    finished_at_ms   INTEGER,            -- NULL while processing
    normal           INTEGER NOT NULL,   -- 0 while processing
    errors           INTEGER NOT NULL,   -- 0 while processing
    request_json     TEXT    NOT NULL,
    result_json      TEXT                -- set together with finished_at_ms
);
CREATE INDEX batch_inquiries_by_institution ON batch_inquiries (institution_code, submitted_at_ms);
-- Only the batches still processing (few), for resuming after a restart.
CREATE INDEX batch_inquiries_unfinished ON batch_inquiries (submitted_at_ms, id)
    WHERE finished_at_ms IS NULL;
