-- kakunin PostgreSQL schema, migration 0006: the institution registry, each person's choice to
-- share nothing, 災害時 declarations, and the birth-date index behind the search by the 4
-- attributes (used only under a declaration).
-- Append-only: never edit an applied migration.

-- Institutions as operators register them; a new registration of a code replaces the old one.
CREATE TABLE institutions (
    code             TEXT   PRIMARY KEY,   -- 医療機関コード (10 digits)
    name             TEXT   NOT NULL,      -- shown to patients in their access log
    kind             TEXT   NOT NULL,      -- hospital | medical_clinic | dental | pharmacy
    municipality     TEXT,                 -- 市区町村コード (5 digits), when known
    registered_at_ms BIGINT NOT NULL,
    updated_at_ms    BIGINT NOT NULL
);

-- A person's choice to share no medical information with anyone (or to share again).
-- Append-only: the newest row per pseudonym is in force.
CREATE TABLE sharing_choices (
    id        BIGSERIAL PRIMARY KEY,
    pseudonym TEXT   NOT NULL,
    opted_out BIGINT NOT NULL,   -- 1 opted out, 0 sharing again
    at_ms     BIGINT NOT NULL
);
CREATE INDEX sharing_choices_by_person ON sharing_choices (pseudonym, id);
CREATE TRIGGER sharing_choices_append_only BEFORE UPDATE OR DELETE ON sharing_choices
    FOR EACH ROW EXECUTE FUNCTION kakunin_append_only();

-- A 災害時 declaration: for its areas and [starts_at, ends_at), institutions there may find
-- people without a card. Only ended_at_ms is ever set afterwards (an operator ended it early);
-- declarations are never deleted: access-log entries made under one refer to it.
CREATE TABLE emergency_declarations (
    id             BIGSERIAL PRIMARY KEY,
    starts_at_ms   BIGINT NOT NULL,
    ends_at_ms     BIGINT NOT NULL,
    reason         TEXT   NOT NULL,
    declared_by    TEXT   NOT NULL,   -- admin:<id>
    declared_at_ms BIGINT NOT NULL,
    ended_at_ms    BIGINT             -- NULL unless ended early
);
-- Declarations in force are the ones not expired yet (few).
CREATE INDEX emergency_declarations_by_end ON emergency_declarations (ends_at_ms);
CREATE TRIGGER emergency_declarations_kept BEFORE DELETE ON emergency_declarations
    FOR EACH ROW EXECUTE FUNCTION kakunin_append_only();

-- The areas of a declaration, in the order given.
CREATE TABLE emergency_areas (
    declaration_id BIGINT NOT NULL REFERENCES emergency_declarations(id),
    seq            BIGINT NOT NULL,
    area           TEXT   NOT NULL,   -- 都道府県番号 (2 digits) or 市区町村コード (5 digits)
    PRIMARY KEY (declaration_id, seq)
);
CREATE TRIGGER emergency_areas_append_only BEFORE UPDATE OR DELETE ON emergency_areas
    FOR EACH ROW EXECUTE FUNCTION kakunin_append_only();

-- The search by the 4 attributes selects versions by birth date and sex (then keeps the
-- current ones whose folded name, and address prefix, match).
CREATE INDEX qualification_versions_by_birthdate ON qualification_versions (birthdate, sex);
