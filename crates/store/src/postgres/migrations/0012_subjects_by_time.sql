-- kakunin PostgreSQL schema, migration 0012: a person's access-log entries by time.
-- Append-only: never edit an applied migration.
--
-- "Was this person checked here today?" (before any medical information is shown) and a
-- person's own access log read the newest entries of one qualification. Partitions by month
-- already bound the scan to the months asked for; within a month the index on
-- qualification_id alone still walked every entry of the person. The new index (created on
-- every partition) serves both kinds of lookup, so it replaces the old one.
CREATE INDEX access_log_subjects_by_qualification_time
    ON access_log_subjects (qualification_id, access_at_ms);
DROP INDEX access_log_subjects_by_qualification;
