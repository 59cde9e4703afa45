-- Backup and restore (app/backup.py): what a backup reads in its one snapshot, and the check
-- that a restore's target database is empty.

-- name: hold_blob_collector^
-- Held (session-level) on a connection of its own for as long as a backup copies objects: the
-- blob collector's own lock (try_lock_blob_collector), so a collector already running finishes
-- first and none runs meanwhile (each skips its turn): no object a row of the backup's snapshot
-- names is deleted before it is copied. Writers never wait on it.
SELECT pg_advisory_lock(7461002102) AS held;

-- name: export_snapshot^
-- The snapshot pg_dump joins (--snapshot), in this REPEATABLE READ transaction.
SELECT pg_export_snapshot() AS snapshot, current_setting('server_version') AS server;

-- name: applied_migrations
SELECT name FROM schema_migrations ORDER BY version;

-- name: backup_counts^
SELECT (SELECT count(*) FROM organizations) AS organizations,
       (SELECT count(*) FROM stacks) AS stacks,
       (SELECT count(*) FROM checkpoints) AS checkpoints;

-- name: user_relations
-- A few of the database's own tables, views or sequences: a restore's target must have none.
SELECT n.nspname || '.' || c.relname AS name
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname !~ '^pg_(toast|temp)'
 ORDER BY 1
 LIMIT 5;
