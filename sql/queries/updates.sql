-- Updates (operations on a stack) and their history.

-- name: next_version$
-- Claim the stack's next version (the caller holds the stack row lock).
UPDATE stacks SET version = version + 1 WHERE id = :stack_id RETURNING version;

-- name: insert_recorded_update!
-- An operation that is over as soon as it is recorded (rename, import).
INSERT INTO updates (id, stack_id, kind, status, version, message, environment, initiator_id,
                     start_time, end_time, resource_count)
VALUES (:update_id, :stack_id, :kind, 'succeeded', :version, :message, :environment, :initiator_id,
        now(), now(), :resource_count);

-- name: set_active_update!
UPDATE stacks SET active_update_id = :update_id WHERE id = :stack_id;

-- name: insert_update!
-- A created update: nothing is locked and no version is claimed until it starts.
INSERT INTO updates (id, stack_id, kind, dry_run, program, config, message, environment,
                     initiator_id)
VALUES (:update_id, :stack_id, :kind, :dry_run, :program, :config, :message, :environment,
        :initiator_id);

-- name: get_update^
-- An update of the stack named in the URL (another stack's update id finds nothing).
SELECT u.id, u.stack_id, u.kind, u.dry_run, u.status, u.version
  FROM updates u
  JOIN stacks s ON s.id = u.stack_id
  JOIN projects p ON p.id = s.project_id
  JOIN organizations o ON o.id = p.org_id
 WHERE u.id = CAST(:update_id AS uuid)
   AND o.name = :org_name AND p.name = :project_name AND s.name = :stack_name
   AND s.deleted_at IS NULL;

-- name: lock_update^
-- An update of a stack whose row the caller holds locked, locked in turn.
SELECT id, stack_id, kind, dry_run, status, version
  FROM updates
 WHERE id = CAST(:update_id AS uuid) AND stack_id = :stack_id
   FOR UPDATE;

-- name: lock_abandoned_update^
-- The stack's running real operation whose lease ran out long ago (its CLI died without
-- completing it), locked so that the caller ends it as failed and a new one can start without
-- `pulumi cancel`.
SELECT id, version
  FROM updates
 WHERE stack_id = :stack_id AND status = 'running' AND NOT dry_run
   AND lease_expires_at < now() - make_interval(secs => :abandoned_after)
   FOR UPDATE;

-- name: start_update^
-- The partial unique index updates_one_running_per_stack refuses a second running real operation.
UPDATE updates
   SET status = 'running',
       version = :version,
       start_time = now(),
       lease_token_hash = :lease_token_hash,
       lease_expires_at = now() + make_interval(secs => :lease_seconds),
       initiator_id = coalesce(initiator_id, :user_id),
       journal_version = :journal_version,
       cli_version = :cli_version
 WHERE id = CAST(:update_id AS uuid) AND status = 'not started'
RETURNING version, lease_expires_at, journal_version, kind, dry_run;

-- name: renew_lease^
UPDATE updates
   SET lease_expires_at = now() + make_interval(secs => :seconds)
 WHERE id = CAST(:update_id AS uuid) AND status = 'running'
RETURNING lease_expires_at;

-- name: finish_update^
-- Complete or cancel a running (or never started) update; the lease token stops working because
-- the update no longer runs. A real operation's resource count is that of its version's state.
UPDATE updates u
   SET status = :status,
       end_time = now(),
       lease_expires_at = least(u.lease_expires_at, now()),
       resource_count = CASE WHEN u.dry_run OR u.version IS NULL THEN u.resource_count
                             ELSE (SELECT c.resource_count FROM checkpoints c
                                    WHERE c.stack_id = u.stack_id AND c.version = u.version)
                        END
 WHERE u.id = CAST(:update_id AS uuid) AND u.status IN ('running', 'not started')
RETURNING u.id, u.status;

-- name: record_resource_changes!
-- From the engine's summary event: what the operation did, for history.
UPDATE updates SET resource_changes = :resource_changes WHERE id = CAST(:update_id AS uuid);

-- name: stack_history
-- Recorded (non-preview) operations, newest first; a NULL limit means all of them. With who
-- ran each (NULL for a user since deleted).
SELECT u.id, u.kind, coalesce(u.start_time, u.created_at) AS start_time, u.message,
       u.environment, u.config, u.status, u.end_time, u.version, u.resource_changes,
       u.resource_count, i.login AS initiator_login, i.name AS initiator_name
  FROM updates u
  LEFT JOIN users i ON i.id = u.initiator_id
 WHERE u.stack_id = :stack_id AND NOT u.dry_run AND u.version IS NOT NULL
 ORDER BY u.version DESC
 LIMIT :limit OFFSET :offset;

-- name: history_at_version^
SELECT u.id, u.kind, coalesce(u.start_time, u.created_at) AS start_time, u.message,
       u.environment, u.config, u.status, u.end_time, u.version, u.resource_changes,
       u.resource_count, i.login AS initiator_login, i.name AS initiator_name
  FROM updates u
  LEFT JOIN users i ON i.id = u.initiator_id
 WHERE u.stack_id = :stack_id AND NOT u.dry_run AND u.version = :version
 ORDER BY u.created_at DESC
 LIMIT 1;

-- name: stack_previews
-- Dry runs that were started, newest first unless :ascending.
SELECT id
  FROM updates
 WHERE stack_id = :stack_id AND dry_run AND status <> 'not started'
 ORDER BY CASE WHEN :ascending THEN created_at END ASC,
          CASE WHEN NOT :ascending THEN created_at END DESC
 LIMIT :limit OFFSET :offset;

-- name: stack_is_busy$
-- Whether a real operation runs on the stack (the caller holds the stack row lock).
SELECT EXISTS (SELECT 1 FROM updates
                WHERE stack_id = :stack_id AND status = 'running' AND NOT dry_run);
