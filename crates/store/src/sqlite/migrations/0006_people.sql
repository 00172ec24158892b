-- kakunin SQLite schema, migration 0006: the institution registry, each person's choice to
-- share nothing, 災害時 declarations, and the birth-date index behind the search by the 4
-- attributes (used only under a declaration).
-- Append-only: never edit an applied migration.

-- Institutions as operators register them; a new registration of a code replaces the old one.
CREATE TABLE institutions (
    code             TEXT    PRIMARY KEY,   -- 医療機関コード (10 digits)
    name             TEXT    NOT NULL,      -- shown to patients in their access log
    kind             TEXT    NOT NULL,      -- hospital | medical_clinic | dental | pharmacy
    municipality     TEXT,                  -- 市区町村コード (5 digits), when known
    registered_at_ms INTEGER NOT NULL,
    updated_at_ms    INTEGER NOT NULL
) WITHOUT ROWID;

-- A person's choice to share no medical information with anyone (or to share again).
-- Append-only: the newest row per pseudonym is in force.
CREATE TABLE sharing_choices (
    id        INTEGER PRIMARY KEY,
    pseudonym TEXT    NOT NULL,
    opted_out INTEGER NOT NULL,   -- 1 opted out, 0 sharing again
    at_ms     INTEGER NOT NULL
);
CREATE INDEX sharing_choices_by_person ON sharing_choices (pseudonym, id);
CREATE TRIGGER sharing_choices_no_update BEFORE UPDATE ON sharing_choices
BEGIN SELECT RAISE(ABORT, 'sharing_choices is append-only'); END;
CREATE TRIGGER sharing_choices_no_delete BEFORE DELETE ON sharing_choices
BEGIN SELECT RAISE(ABORT, 'sharing_choices is append-only'); END;

-- A 災害時 declaration: for its areas and [starts_at, ends_at), institutions there may find
-- people without a card. Only ended_at_ms is ever set afterwards (an operator ended it early);
-- declarations are never deleted: access-log entries made under one refer to it.
CREATE TABLE emergency_declarations (
    id             INTEGER PRIMARY KEY,
    starts_at_ms   INTEGER NOT NULL,
    ends_at_ms     INTEGER NOT NULL,
    reason         TEXT    NOT NULL,
    declared_by    TEXT    NOT NULL,   -- admin:<id>
    declared_at_ms INTEGER NOT NULL,
    ended_at_ms    INTEGER             -- NULL unless ended early
);
-- Declarations in force are the ones not expired yet (few).
CREATE INDEX emergency_declarations_by_end ON emergency_declarations (ends_at_ms);
CREATE TRIGGER emergency_declarations_no_delete BEFORE DELETE ON emergency_declarations
BEGIN SELECT RAISE(ABORT, 'emergency_declarations are never deleted'); END;

-- The areas of a declaration, in the order given.
CREATE TABLE emergency_areas (
    declaration_id INTEGER NOT NULL REFERENCES emergency_declarations(id),
    seq            INTEGER NOT NULL,
    area           TEXT    NOT NULL,   -- 都道府県番号 (2 digits) or 市区町村コード (5 digits)
    PRIMARY KEY (declaration_id, seq)
) WITHOUT ROWID;
CREATE TRIGGER emergency_areas_no_update BEFORE UPDATE ON emergency_areas
BEGIN SELECT RAISE(ABORT, 'emergency_areas is append-only'); END;
CREATE TRIGGER emergency_areas_no_delete BEFORE DELETE ON emergency_areas
BEGIN SELECT RAISE(ABORT, 'emergency_areas is append-only'); END;

-- The search by the 4 attributes selects versions by birth date and sex (then keeps the
-- current ones whose folded name, and address prefix, match).
CREATE INDEX qualification_versions_by_birthdate ON qualification_versions (birthdate, sex);
