-- Importing stacks from a DIY backend (app/diy.py).

-- name: diy_target_stacks
-- The organization's (live) stacks, with where each came from if it was imported from a DIY
-- backend (to find name clashes and stacks a previous run already imported).
SELECT s.id, p.name AS project_name, s.name AS stack_name, s.version,
       d.source, d.source_stack, d.versions AS imported_versions
  FROM stacks s
  JOIN projects p ON p.id = s.project_id
  JOIN organizations o ON o.id = p.org_id
  LEFT JOIN diy_imports d ON d.stack_id = s.id
 WHERE o.name = :org_name AND s.deleted_at IS NULL;

-- name: insert_diy_update!
-- One DIY history entry as a finished operation, with the times the DIY backend recorded (Unix
-- seconds). Its state follows (checkpoints reference their update).
INSERT INTO updates (id, stack_id, kind, status, version, message, environment, config,
                     created_at, start_time, end_time, resource_changes, resource_count)
VALUES (CAST(:update_id AS uuid), :stack_id, :kind, :status, :version, :message, :environment,
        :config, to_timestamp(:start_time), to_timestamp(:start_time), to_timestamp(:end_time),
        :resource_changes, :resource_count);

-- name: finish_diy_import!
-- The imported stack's latest version and operation, and the marker saying it came over whole.
WITH stack AS (
    UPDATE stacks SET version = :version, active_update_id = CAST(:update_id AS uuid)
     WHERE id = :stack_id
)
INSERT INTO diy_imports (stack_id, source, source_stack, versions, source_bytes)
VALUES (:stack_id, :source, :source_stack, :version, :source_bytes);

-- name: diy_imported_history
-- An imported stack's operations in version order, to verify them against the source.
SELECT version, kind, status, message, resource_count
  FROM updates
 WHERE stack_id = :stack_id AND NOT dry_run AND version IS NOT NULL
 ORDER BY version;

-- name: diy_savepoint!
-- Before converting a stack's secrets: when one version cannot be converted, the stack is
-- imported again as it was, in the same transaction.
SAVEPOINT diy_secrets;

-- name: diy_rollback_to_savepoint!
ROLLBACK TO SAVEPOINT diy_secrets;
