-- kakunin PostgreSQL schema, migration 0004: medical information (receipts, masters, 特定健診),
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
    import_id   BIGINT  NOT NULL,
    PRIMARY KEY (kind, code, valid_from)
);

CREATE TABLE master_imports (
    id             BIGSERIAL PRIMARY KEY,
    kind           TEXT    NOT NULL,
    received_at_ms BIGINT  NOT NULL,
    actor          TEXT    NOT NULL,
    source_sha256  TEXT    NOT NULL,
    entries        BIGINT  NOT NULL,
    inserted       BIGINT  NOT NULL,
    updated        BIGINT  NOT NULL
);

-- One UKE file as imported; a file is imported once (its digest is unique).
CREATE TABLE receipt_files (
    id               BIGSERIAL PRIMARY KEY,
    received_at_ms   BIGINT  NOT NULL,
    actor            TEXT    NOT NULL,
    source_sha256    TEXT    NOT NULL UNIQUE,
    pharmacy         BIGINT  NOT NULL,   -- 0 医科, 1 調剤
    institution_code TEXT    NOT NULL,
    institution_name TEXT,
    receipts         BIGINT  NOT NULL,
    matched          BIGINT  NOT NULL,
    unknown_records  BIGINT  NOT NULL
);

-- One receipt: the matching key as billed, the person's qualification once matched (NULL =
-- kept for later matching), and the 医療費通知 item.
CREATE TABLE receipts (
    id                BIGSERIAL PRIMARY KEY,
    file_id           BIGINT  NOT NULL REFERENCES receipt_files(id),
    receipt_number    BIGINT ,
    qualification_id  BIGINT  REFERENCES qualifications(id),
    insurer_number    TEXT    NOT NULL,
    symbol_key        TEXT    NOT NULL,
    number_key        TEXT    NOT NULL,
    branch            TEXT    NOT NULL,   -- '' when the receipt has no 枝番
    birthdate         TEXT,               -- yyyyMMdd
    care_month        TEXT    NOT NULL,   -- yyyyMM
    care_kind         TEXT    NOT NULL,   -- inpatient | outpatient | dental | pharmacy
    prescriber_code   TEXT,
    days              BIGINT ,
    total_yen         BIGINT ,
    patient_share_yen BIGINT 
);
CREATE INDEX receipts_by_qualification ON receipts (qualification_id, care_month);
CREATE INDEX receipts_unmatched ON receipts (insurer_number, number_key) WHERE qualification_id IS NULL;
CREATE INDEX receipts_by_month ON receipts (care_month);

CREATE TABLE receipt_drugs (
    receipt_id     BIGINT  NOT NULL REFERENCES receipts(id) ON DELETE CASCADE,
    seq            BIGINT  NOT NULL,
    dispensed_on   TEXT,
    prescribed_on  TEXT,
    code           TEXT    NOT NULL,
    quantity       TEXT,
    days_or_times  BIGINT ,
    category       TEXT,
    usage_code     TEXT,
    rp             BIGINT ,
    PRIMARY KEY (receipt_id, seq)
);

CREATE TABLE receipt_treatments (
    receipt_id BIGINT  NOT NULL REFERENCES receipts(id) ON DELETE CASCADE,
    seq        BIGINT  NOT NULL,
    kind       TEXT    NOT NULL,   -- management | home_care | procedure | surgery | ...
    code       TEXT    NOT NULL,
    dates      TEXT    NOT NULL,   -- comma-separated yyyyMMdd
    count      BIGINT ,
    PRIMARY KEY (receipt_id, seq)
);

-- One 特定健診 package as imported.
CREATE TABLE checkup_files (
    id             BIGSERIAL PRIMARY KEY,
    received_at_ms BIGINT  NOT NULL,
    actor          TEXT    NOT NULL,
    source_sha256  TEXT    NOT NULL UNIQUE,
    documents      BIGINT  NOT NULL,
    matched        BIGINT  NOT NULL
);

CREATE TABLE checkups (
    id               BIGSERIAL PRIMARY KEY,
    file_id          BIGINT  NOT NULL REFERENCES checkup_files(id),
    qualification_id BIGINT  REFERENCES qualifications(id),
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
    checkup_id     BIGINT  NOT NULL REFERENCES checkups(id) ON DELETE CASCADE,
    seq            BIGINT  NOT NULL,
    item_code      TEXT    NOT NULL,
    item_name      TEXT    NOT NULL,
    value          TEXT,
    unit           TEXT,
    interpretation TEXT,
    PRIMARY KEY (checkup_id, seq)
);

-- A patient's block of one institution (no information is shown to it). Append-only history:
-- the newest row per (pseudonym, institution) is in force.
CREATE TABLE institution_blocks (
    id               BIGSERIAL PRIMARY KEY,
    pseudonym        TEXT    NOT NULL,
    institution_code TEXT    NOT NULL,
    blocked          BIGINT  NOT NULL,   -- 1 blocked, 0 unblocked
    at_ms            BIGINT  NOT NULL
);
CREATE INDEX institution_blocks_by_person ON institution_blocks (pseudonym, institution_code, id);
