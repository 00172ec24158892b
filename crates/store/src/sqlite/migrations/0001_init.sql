-- kakunin SQLite schema, migration 0001. Append-only: never edit an applied migration.

-- One roster import (or seed batch): who sent what, when, and what it changed.
CREATE TABLE imports (
    id              INTEGER PRIMARY KEY,
    received_at_ms  INTEGER NOT NULL,
    actor           TEXT    NOT NULL,   -- e.g. "insurer:06139992"
    source_sha256   TEXT    NOT NULL,
    rows_total      INTEGER NOT NULL,
    inserted        INTEGER NOT NULL,
    updated         INTEGER NOT NULL,
    unchanged       INTEGER NOT NULL
);

-- The identity of a card (保険者番号 + 記号 + 番号 + 枝番, matching keys) and its current version.
CREATE TABLE qualifications (
    id                 INTEGER PRIMARY KEY,
    insurer_number     TEXT    NOT NULL,
    symbol_key         TEXT    NOT NULL,   -- '' when the card has no 記号
    number_key         TEXT    NOT NULL,
    branch             TEXT    NOT NULL,   -- '' when the card has no 枝番
    current_version_id INTEGER NOT NULL,
    created_import_id  INTEGER NOT NULL REFERENCES imports(id),
    UNIQUE (insurer_number, symbol_key, number_key, branch)
);

-- Every registered state of a qualification; a change adds a row, never rewrites one.
CREATE TABLE qualification_versions (
    id                      INTEGER PRIMARY KEY,
    qualification_id        INTEGER NOT NULL REFERENCES qualifications(id),
    version_no              INTEGER NOT NULL,
    import_id               INTEGER NOT NULL REFERENCES imports(id),
    recorded_at_ms          INTEGER NOT NULL,
    content_sha256          BLOB    NOT NULL,
    symbol_raw              TEXT,
    number_raw              TEXT    NOT NULL,
    card_classification     TEXT    NOT NULL,
    relationship            TEXT    NOT NULL,
    insured_name            TEXT,
    name                    TEXT    NOT NULL,
    name_kana               TEXT    NOT NULL,
    sex                     TEXT    NOT NULL,
    birthdate               TEXT    NOT NULL,  -- yyyyMMdd
    address                 TEXT,
    post_number             TEXT,
    qualification_date      TEXT    NOT NULL,
    disqualification_date   TEXT,
    loss_reason             TEXT,
    card_issue_date         TEXT,
    card_valid_from         TEXT,
    card_valid_until        TEXT,
    copay_ratio             INTEGER,
    insurer_name            TEXT    NOT NULL,
    elderly_issue_date      TEXT,
    elderly_valid_from      TEXT,
    elderly_valid_until     TEXT,
    elderly_copay_ratio     INTEGER,
    limit_classification    TEXT,
    limit_bracket           TEXT,
    limit_issue_date        TEXT,
    limit_valid_from        TEXT,
    limit_valid_until       TEXT,
    limit_long_term_date    TEXT,
    UNIQUE (qualification_id, version_no)
);

CREATE TABLE specific_disease_certificates (
    version_id    INTEGER NOT NULL REFERENCES qualification_versions(id),
    seq           INTEGER NOT NULL,
    disease       TEXT    NOT NULL,
    issue_date    TEXT,
    valid_from    TEXT    NOT NULL,
    valid_until   TEXT,
    self_pay_yen  INTEGER NOT NULL,
    PRIMARY KEY (version_id, seq)
);

-- Every read of personal data. Append-only. (PostgreSQL partitions it by month on at_ms.)
CREATE TABLE access_log (
    id               INTEGER PRIMARY KEY,
    at_ms            INTEGER NOT NULL,
    institution_code TEXT    NOT NULL,
    purpose          TEXT    NOT NULL,
    result           TEXT    NOT NULL,
    processing_code  TEXT    NOT NULL,
    UNIQUE (id, at_ms)
);

-- Whose data each access touched. Carries the access time so that PostgreSQL can partition it
-- like access_log and drop both by month.
CREATE TABLE access_log_subjects (
    access_id        INTEGER NOT NULL,
    access_at_ms     INTEGER NOT NULL,
    qualification_id INTEGER NOT NULL REFERENCES qualifications(id),
    PRIMARY KEY (access_id, access_at_ms, qualification_id),
    FOREIGN KEY (access_id, access_at_ms) REFERENCES access_log(id, at_ms)
);
CREATE INDEX access_log_subjects_by_qualification ON access_log_subjects (qualification_id);

CREATE TRIGGER access_log_no_update BEFORE UPDATE ON access_log
BEGIN SELECT RAISE(ABORT, 'access_log is append-only'); END;
CREATE TRIGGER access_log_no_delete BEFORE DELETE ON access_log
BEGIN SELECT RAISE(ABORT, 'access_log is append-only'); END;
CREATE TRIGGER versions_no_update BEFORE UPDATE ON qualification_versions
BEGIN SELECT RAISE(ABORT, 'qualification history is append-only'); END;
