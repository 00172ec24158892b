-- kakunin SQLite schema, migration 0004: medical information (receipts, masters, 特定健診),
-- what each information read asked for, and institution blocks.
-- Append-only: never edit an applied migration.

-- What an information read (purpose medical_information) asked for; NULL for other purposes.
ALTER TABLE access_log ADD COLUMN category    TEXT;   -- medications | treatments | surgeries | checkups
ALTER TABLE access_log ADD COLUMN period_from TEXT;   -- yyyyMMdd
ALTER TABLE access_log ADD COLUMN period_to   TEXT;   -- yyyyMMdd
ALTER TABLE access_log ADD COLUMN basis       TEXT;   -- consent | emergency | visual

-- Code masters (医薬品 Y, 診療行為 S, 特定器材 T), one row per code and validity period: a new
-- edition of a code adds a row, so old receipts keep the name they had.
CREATE TABLE master_entries (
    kind        TEXT    NOT NULL,   -- drug | procedure | device
    code        TEXT    NOT NULL,
    valid_from  TEXT    NOT NULL,   -- yyyyMMdd ('00000000' when the master gave none)
    valid_until TEXT,               -- yyyyMMdd; NULL = open
    name        TEXT    NOT NULL,
    unit        TEXT,
    import_id   INTEGER NOT NULL,
    PRIMARY KEY (kind, code, valid_from)
) WITHOUT ROWID;

CREATE TABLE master_imports (
    id             INTEGER PRIMARY KEY,
    kind           TEXT    NOT NULL,
    received_at_ms INTEGER NOT NULL,
    actor          TEXT    NOT NULL,
    source_sha256  TEXT    NOT NULL,
    entries        INTEGER NOT NULL,
    inserted       INTEGER NOT NULL,
    updated        INTEGER NOT NULL
);

-- One UKE file as imported; a file is imported once (its digest is unique).
CREATE TABLE receipt_files (
    id               INTEGER PRIMARY KEY,
    received_at_ms   INTEGER NOT NULL,
    actor            TEXT    NOT NULL,
    source_sha256    TEXT    NOT NULL UNIQUE,
    pharmacy         INTEGER NOT NULL,   -- 0 医科, 1 調剤
    institution_code TEXT    NOT NULL,
    institution_name TEXT,
    receipts         INTEGER NOT NULL,
    matched          INTEGER NOT NULL,
    unknown_records  INTEGER NOT NULL
);

-- One receipt: the matching key as billed, the person's qualification once matched (NULL =
-- kept for later matching), and the 医療費通知 item.
CREATE TABLE receipts (
    id                INTEGER PRIMARY KEY,
    file_id           INTEGER NOT NULL REFERENCES receipt_files(id),
    receipt_number    INTEGER,
    qualification_id  INTEGER REFERENCES qualifications(id),
    insurer_number    TEXT    NOT NULL,
    symbol_key        TEXT    NOT NULL,
    number_key        TEXT    NOT NULL,
    branch            TEXT    NOT NULL,   -- '' when the receipt has no 枝番
    birthdate         TEXT,               -- yyyyMMdd
    care_month        TEXT    NOT NULL,   -- yyyyMM
    care_kind         TEXT    NOT NULL,   -- inpatient | outpatient | dental | pharmacy
    prescriber_code   TEXT,
    days              INTEGER,
    total_yen         INTEGER,
    patient_share_yen INTEGER
);
CREATE INDEX receipts_by_qualification ON receipts (qualification_id, care_month);
CREATE INDEX receipts_unmatched ON receipts (insurer_number, number_key) WHERE qualification_id IS NULL;
CREATE INDEX receipts_by_month ON receipts (care_month);

CREATE TABLE receipt_drugs (
    receipt_id     INTEGER NOT NULL REFERENCES receipts(id) ON DELETE CASCADE,
    seq            INTEGER NOT NULL,
    dispensed_on   TEXT,
    prescribed_on  TEXT,
    code           TEXT    NOT NULL,
    quantity       TEXT,
    days_or_times  INTEGER,
    category       TEXT,
    usage_code     TEXT,
    rp             INTEGER,
    PRIMARY KEY (receipt_id, seq)
) WITHOUT ROWID;

CREATE TABLE receipt_treatments (
    receipt_id INTEGER NOT NULL REFERENCES receipts(id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    kind       TEXT    NOT NULL,   -- management | home_care | procedure | surgery | ...
    code       TEXT    NOT NULL,
    dates      TEXT    NOT NULL,   -- comma-separated yyyyMMdd
    count      INTEGER,
    PRIMARY KEY (receipt_id, seq)
) WITHOUT ROWID;

-- One 特定健診 package as imported.
CREATE TABLE checkup_files (
    id             INTEGER PRIMARY KEY,
    received_at_ms INTEGER NOT NULL,
    actor          TEXT    NOT NULL,
    source_sha256  TEXT    NOT NULL UNIQUE,
    documents      INTEGER NOT NULL,
    matched        INTEGER NOT NULL
);

CREATE TABLE checkups (
    id               INTEGER PRIMARY KEY,
    file_id          INTEGER NOT NULL REFERENCES checkup_files(id),
    qualification_id INTEGER REFERENCES qualifications(id),
    insurer_number   TEXT    NOT NULL,
    symbol_key       TEXT    NOT NULL,
    number_key       TEXT    NOT NULL,
    branch           TEXT    NOT NULL,
    birthdate        TEXT,
    checkup_date     TEXT    NOT NULL,   -- yyyyMMdd
    institution_id   TEXT,
    institution_name TEXT
);
CREATE INDEX checkups_by_qualification ON checkups (qualification_id, checkup_date);
CREATE INDEX checkups_unmatched ON checkups (insurer_number, number_key) WHERE qualification_id IS NULL;
CREATE INDEX checkups_by_date ON checkups (checkup_date);

CREATE TABLE checkup_results (
    checkup_id     INTEGER NOT NULL REFERENCES checkups(id) ON DELETE CASCADE,
    seq            INTEGER NOT NULL,
    item_code      TEXT    NOT NULL,
    item_name      TEXT    NOT NULL,
    value          TEXT,
    unit           TEXT,
    interpretation TEXT,
    PRIMARY KEY (checkup_id, seq)
) WITHOUT ROWID;

-- A patient's block of one institution (no information is shown to it). Append-only history:
-- the newest row per (pseudonym, institution) is in force.
CREATE TABLE institution_blocks (
    id               INTEGER PRIMARY KEY,
    pseudonym        TEXT    NOT NULL,
    institution_code TEXT    NOT NULL,
    blocked          INTEGER NOT NULL,   -- 1 blocked, 0 unblocked
    at_ms            INTEGER NOT NULL
);
CREATE INDEX institution_blocks_by_person ON institution_blocks (pseudonym, institution_code, id);
