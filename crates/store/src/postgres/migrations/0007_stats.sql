-- kakunin PostgreSQL schema, migration 0007: what the operators' statistics read.
-- Append-only: never edit an applied migration.

-- No index on access_log (at_ms): the log is partitioned by month on it, so a month's usage
-- counts read that month's partition only, and every entry's write stays as cheap as it is.

-- Data freshness reads the versions recent imports wrote.
CREATE INDEX qualification_versions_by_import ON qualification_versions (import_id);
