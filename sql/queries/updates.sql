-- Updates (operations on a stack) and their history.

-- name: update_by_lease^
-- The update holding a lease token, with the stack it belongs to.
SELECT u.id, u.stack_id, u.kind, u.dry_run, u.status, u.version, u.initiator_id,
       iu.login AS initiator_login,
       u.lease_expires_at < now() AS expired,
       o.name AS org_name, p.name AS project_name, s.name AS stack_name
  FROM updates u
  JOIN stacks s ON s.id = u.stack_id
  JOIN projects p ON p.id = s.project_id
  JOIN organizations o ON o.id = p.org_id
  LEFT JOIN users iu ON iu.id = u.initiator_id
 WHERE u.lease_token_hash = :lease_token_hash;

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
