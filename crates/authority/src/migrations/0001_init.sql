-- The resident registry (住民基本台帳): 個人番号 and 基本4情報, as registered (raw text; the
-- match normalises both sides at query time, so a change of normalisation needs no migration).
CREATE TABLE residents (
    individual_number TEXT PRIMARY KEY CHECK (length(individual_number) = 12),
    name TEXT NOT NULL,
    name_kana TEXT NOT NULL,
    birthdate TEXT NOT NULL CHECK (length(birthdate) = 8),  -- yyyyMMdd
    sex TEXT NOT NULL CHECK (sex IN ('1', '2', '3')),
    address TEXT NOT NULL,
    updated_at_ms INTEGER NOT NULL
) WITHOUT ROWID;

-- One row per issued user-auth certificate (one card generation).
CREATE TABLE cards (
    serial TEXT PRIMARY KEY,                 -- lower-case hex, no leading zero bytes
    individual_number TEXT NOT NULL REFERENCES residents (individual_number),
    status TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'revoked')),
    revocation_reason INTEGER,               -- RFC 5280 CRLReason, when revoked
    not_before_ms INTEGER NOT NULL,
    not_after_ms INTEGER NOT NULL,
    cert_sha256 BLOB NOT NULL UNIQUE,        -- SHA-256 of the certificate DER
    issued_at_ms INTEGER NOT NULL,
    changed_at_ms INTEGER NOT NULL,
    CHECK ((status = 'revoked') = (revocation_reason IS NOT NULL))
);
CREATE INDEX cards_by_person ON cards (individual_number);
CREATE INDEX cards_on_crl ON cards (status) WHERE status <> 'active';

-- Append-only history of status changes (issue included), for audit.
CREATE TABLE card_events (
    id INTEGER PRIMARY KEY,
    serial TEXT NOT NULL REFERENCES cards (serial),
    status TEXT NOT NULL,
    revocation_reason INTEGER,
    at_ms INTEGER NOT NULL
);

-- status_seq goes up with every change of what the CRL lists, in the same transaction, so any
-- process can tell whether its cached CRL is current; crl_number goes up with every CRL signed.
CREATE TABLE registry_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    status_seq INTEGER NOT NULL,
    crl_number INTEGER NOT NULL
);
INSERT INTO registry_state (id, status_seq, crl_number) VALUES (1, 0, 0);
