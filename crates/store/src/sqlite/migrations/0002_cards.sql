-- kakunin SQLite schema, migration 0002: person links, link reviews, 利用登録, card-check nonces.
-- Append-only: never edit an applied migration.

-- The person behind a qualification: the authority's agency pseudonym (機関別符号), set only when
-- the authority confirmed the 4 attributes of the 個人番号 the insurer sent. Never a 個人番号.
CREATE TABLE person_links (
    qualification_id INTEGER PRIMARY KEY REFERENCES qualifications(id),
    pseudonym        TEXT    NOT NULL,
    import_id        INTEGER NOT NULL REFERENCES imports(id),
    linked_at_ms     INTEGER NOT NULL
);
CREATE INDEX person_links_by_pseudonym ON person_links (pseudonym);

-- Every link and unlink, for investigating a mis-link. Append-only.
CREATE TABLE person_link_events (
    id               INTEGER PRIMARY KEY,
    qualification_id INTEGER NOT NULL REFERENCES qualifications(id),
    import_id        INTEGER NOT NULL REFERENCES imports(id),
    at_ms            INTEGER NOT NULL,
    action           TEXT    NOT NULL,   -- linked | unlinked
    pseudonym        TEXT    NOT NULL
);
CREATE TRIGGER person_link_events_no_update BEFORE UPDATE ON person_link_events
BEGIN SELECT RAISE(ABORT, 'person_link_events is append-only'); END;
CREATE TRIGGER person_link_events_no_delete BEFORE DELETE ON person_link_events
BEGIN SELECT RAISE(ABORT, 'person_link_events is append-only'); END;

-- Roster rows whose 個人番号 the authority did not confirm. While a review is open the
-- qualification has no person link, so it is never shown by card.
CREATE TABLE link_reviews (
    id               INTEGER PRIMARY KEY,
    qualification_id INTEGER NOT NULL REFERENCES qualifications(id),
    import_id        INTEGER NOT NULL REFERENCES imports(id),
    created_at_ms    INTEGER NOT NULL,
    attributes       TEXT    NOT NULL,   -- comma-separated attribute codes that differed
    number_last4     TEXT    NOT NULL,
    status           TEXT    NOT NULL,   -- open | resolved_by_import | dismissed
    resolved_at_ms   INTEGER,
    resolved_by      TEXT,
    note             TEXT
);
CREATE INDEX link_reviews_by_status ON link_reviews (status, id);
CREATE INDEX link_reviews_by_qualification ON link_reviews (qualification_id);

-- 利用登録: the person registered their card for insurance use (once; renewals keep it).
CREATE TABLE card_registrations (
    pseudonym          TEXT    PRIMARY KEY,
    registered_at_ms   INTEGER NOT NULL,
    certificate_serial TEXT    NOT NULL,
    institution_code   TEXT    NOT NULL
);

-- Card-check nonces already spent. Rows past expiry may be purged: the nonce is refused anyway.
-- WITHOUT ROWID: the nonce is the key, one b-tree; nonces start with their issue time, so spends
-- append.
CREATE TABLE used_nonces (
    nonce         TEXT    PRIMARY KEY,
    expires_at_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX used_nonces_by_expiry ON used_nonces (expires_at_ms);
