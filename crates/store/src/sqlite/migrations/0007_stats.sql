-- kakunin SQLite schema, migration 0007: what the operators' statistics read.
-- Append-only: never edit an applied migration.

-- A month's usage counts read the access log by time (its key is the id).
CREATE INDEX access_log_by_time ON access_log (at_ms);

-- Data freshness reads the versions recent imports wrote.
CREATE INDEX qualification_versions_by_import ON qualification_versions (import_id);
