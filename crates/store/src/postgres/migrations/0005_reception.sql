-- kakunin PostgreSQL schema, migration 0005: 照会番号 and 一括照会 (batch inquiries).
-- Append-only: never edit an applied migration.

-- An institution's 照会番号 (its own patient id, e.g. 診察券番号) for a qualification; a new
-- registration for the same qualification replaces it. A person's other qualifications find it
-- through person_links (so it survives a change of insurer).
CREATE TABLE reference_numbers (
    institution_code TEXT   NOT NULL,
    qualification_id BIGINT NOT NULL REFERENCES qualifications(id),
    reference_number TEXT   NOT NULL,
    registered_at_ms BIGINT NOT NULL,
    PRIMARY KEY (institution_code, qualification_id)
);

-- A submitted 一括照会: the request as the API received it and, once every item is answered,
-- the result document and its counts. The documents hold personal data: purged after days.
-- The id is the API's 受付番号 (a sequence never reuses one).
CREATE TABLE batch_inquiries (
    id               BIGSERIAL PRIMARY KEY,
    institution_code TEXT   NOT NULL,
    submitted_at_ms  BIGINT NOT NULL,
    items            BIGINT NOT NULL,
    finished_at_ms   BIGINT,             -- NULL while processing
    normal           BIGINT NOT NULL,    -- 0 while processing
    errors           BIGINT NOT NULL,    -- 0 while processing
    request_json     TEXT   NOT NULL,
    result_json      TEXT                -- set together with finished_at_ms
);
CREATE INDEX batch_inquiries_by_institution ON batch_inquiries (institution_code, submitted_at_ms);
-- Only the batches still processing (few), for resuming after a restart.
CREATE INDEX batch_inquiries_unfinished ON batch_inquiries (submitted_at_ms, id)
    WHERE finished_at_ms IS NULL;
