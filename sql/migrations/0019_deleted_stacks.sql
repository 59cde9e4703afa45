-- 0019: deleting a stack keeps it, restorable, until the worker purges it (STACK_RETENTION_DAYS).
-- A deleted stack keeps its row and everything that hangs off it (updates, events, checkpoints,
-- secrets key, tags, team grants, webhooks, former names) and is marked with deleted_at; every
-- query that finds a stack for a caller looks at live ones only (deleted_at IS NULL).
ALTER TABLE stacks ADD COLUMN deleted_at timestamptz;

-- A name means one live stack at a time: a deleted stack leaves its name free at once (a new
-- stack may take it, and several deleted ones may share it), so the unique constraint of 0001
-- becomes a unique index over live stacks only. INSERT ... ON CONFLICT names its predicate.
ALTER TABLE stacks DROP CONSTRAINT stacks_project_id_name_key;
CREATE UNIQUE INDEX stacks_live_name ON stacks (project_id, name) WHERE deleted_at IS NULL;

-- The organization's deleted stacks (the restore list) and the purge's expired ones.
CREATE INDEX stacks_deleted ON stacks (deleted_at) WHERE deleted_at IS NOT NULL;
