-- kakunin PostgreSQL schema, migration 0001. Append-only: never edit an applied migration.
-- Same tables, columns and constraints as the SQLite tree (a test proves it); access_log and
-- access_log_subjects are partitioned by month, so their keys include the partition column.

CREATE TABLE imports (
    id              BIGSERIAL PRIMARY KEY,
    received_at_ms  BIGINT NOT NULL,
    actor           TEXT   NOT NULL,
    source_sha256   TEXT   NOT NULL,
    rows_total      BIGINT NOT NULL,
    inserted        BIGINT NOT NULL,
    updated         BIGINT NOT NULL,
    unchanged       BIGINT NOT NULL
);

CREATE TABLE qualifications (
    id                 BIGSERIAL PRIMARY KEY,
    insurer_number     TEXT   NOT NULL,
    symbol_key         TEXT   NOT NULL,
    number_key         TEXT   NOT NULL,
    branch             TEXT   NOT NULL,
    current_version_id BIGINT NOT NULL,
    created_import_id  BIGINT NOT NULL REFERENCES imports(id),
    UNIQUE (insurer_number, symbol_key, number_key, branch)
);

CREATE TABLE qualification_versions (
    id                      BIGSERIAL PRIMARY KEY,
    qualification_id        BIGINT NOT NULL REFERENCES qualifications(id),
    version_no              BIGINT NOT NULL,
    import_id               BIGINT NOT NULL REFERENCES imports(id),
    recorded_at_ms          BIGINT NOT NULL,
    content_sha256          BYTEA  NOT NULL,
    symbol_raw              TEXT,
    number_raw              TEXT   NOT NULL,
    card_classification     TEXT   NOT NULL,
    relationship            TEXT   NOT NULL,
    insured_name            TEXT,
    name                    TEXT   NOT NULL,
    name_kana               TEXT   NOT NULL,
    sex                     TEXT   NOT NULL,
    birthdate               TEXT   NOT NULL,
    address                 TEXT,
    post_number             TEXT,
    qualification_date      TEXT   NOT NULL,
    disqualification_date   TEXT,
    loss_reason             TEXT,
    card_issue_date         TEXT,
    card_valid_from         TEXT,
    card_valid_until        TEXT,
    copay_ratio             BIGINT,
    insurer_name            TEXT   NOT NULL,
    elderly_issue_date      TEXT,
    elderly_valid_from      TEXT,
    elderly_valid_until     TEXT,
    elderly_copay_ratio     BIGINT,
    limit_classification    TEXT,
    limit_bracket           TEXT,
    limit_issue_date        TEXT,
    limit_valid_from        TEXT,
    limit_valid_until       TEXT,
    limit_long_term_date    TEXT,
    UNIQUE (qualification_id, version_no)
);

CREATE TABLE specific_disease_certificates (
    version_id    BIGINT NOT NULL REFERENCES qualification_versions(id),
    seq           BIGINT NOT NULL,
    disease       TEXT   NOT NULL,
    issue_date    TEXT,
    valid_from    TEXT   NOT NULL,
    valid_until   TEXT,
    self_pay_yen  BIGINT NOT NULL,
    PRIMARY KEY (version_id, seq)
);

CREATE TABLE access_log (
    id               BIGSERIAL,
    at_ms            BIGINT NOT NULL,
    institution_code TEXT   NOT NULL,
    purpose          TEXT   NOT NULL,
    result           TEXT   NOT NULL,
    processing_code  TEXT   NOT NULL,
    PRIMARY KEY (id, at_ms)
) PARTITION BY RANGE (at_ms);

CREATE TABLE access_log_subjects (
    access_id        BIGINT NOT NULL,
    access_at_ms     BIGINT NOT NULL,
    qualification_id BIGINT NOT NULL REFERENCES qualifications(id),
    PRIMARY KEY (access_id, access_at_ms, qualification_id),
    FOREIGN KEY (access_id, access_at_ms) REFERENCES access_log(id, at_ms)
) PARTITION BY RANGE (access_at_ms);
CREATE INDEX access_log_subjects_by_qualification ON access_log_subjects (qualification_id);

-- Rows outside every monthly partition land here rather than failing an eligibility answer.
CREATE TABLE access_log_default PARTITION OF access_log DEFAULT;
CREATE TABLE access_log_subjects_default PARTITION OF access_log_subjects DEFAULT;

-- Creates the monthly partitions (JST months, as yyyymm suffixes) covering [from, from + months).
CREATE FUNCTION kakunin_ensure_access_partitions(from_ms BIGINT, months INT) RETURNS VOID
LANGUAGE plpgsql AS $$
DECLARE
    m DATE := date_trunc('month', to_timestamp(from_ms / 1000.0) AT TIME ZONE 'Asia/Tokyo')::date;
    lo BIGINT;
    hi BIGINT;
    suffix TEXT;
BEGIN
    FOR i IN 0 .. months - 1 LOOP
        suffix := to_char(m, 'YYYYMM');
        lo := (extract(epoch FROM (m::timestamp AT TIME ZONE 'Asia/Tokyo')) * 1000)::bigint;
        hi := (extract(epoch FROM ((m + interval '1 month')::timestamp AT TIME ZONE 'Asia/Tokyo')) * 1000)::bigint;
        IF to_regclass('access_log_' || suffix) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF access_log FOR VALUES FROM (%s) TO (%s)',
                           'access_log_' || suffix, lo, hi);
        END IF;
        IF to_regclass('access_log_subjects_' || suffix) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF access_log_subjects FOR VALUES FROM (%s) TO (%s)',
                           'access_log_subjects_' || suffix, lo, hi);
        END IF;
        m := (m + interval '1 month')::date;
    END LOOP;
END $$;

-- Retention: drops whole months older than the month of before_ms (subjects first).
CREATE FUNCTION kakunin_drop_access_partitions_before(before_ms BIGINT) RETURNS INT
LANGUAGE plpgsql AS $$
DECLARE
    cutoff TEXT := to_char(to_timestamp(before_ms / 1000.0) AT TIME ZONE 'Asia/Tokyo', 'YYYYMM');
    r RECORD;
    n INT := 0;
BEGIN
    FOR r IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'access_log_subjects'::regclass
               AND c.relname ~ '^access_log_subjects_[0-9]{6}$'
               AND right(c.relname, 6) < cutoff LOOP
        EXECUTE format('DROP TABLE %I', r.relname);
    END LOOP;
    FOR r IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'access_log'::regclass
               AND c.relname ~ '^access_log_[0-9]{6}$'
               AND right(c.relname, 6) < cutoff LOOP
        -- Detach first: the foreign key from access_log_subjects depends on each partition.
        EXECUTE format('ALTER TABLE access_log DETACH PARTITION %I', r.relname);
        EXECUTE format('DROP TABLE %I', r.relname);
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;

CREATE FUNCTION kakunin_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END $$;

CREATE TRIGGER access_log_no_update BEFORE UPDATE OR DELETE ON access_log
    FOR EACH ROW EXECUTE FUNCTION kakunin_append_only();
CREATE TRIGGER versions_no_update BEFORE UPDATE ON qualification_versions
    FOR EACH ROW EXECUTE FUNCTION kakunin_append_only();
