-- Checkpoints: the deployment of each stack version.

-- name: latest_checkpoint^
SELECT version, deployment_gz, resource_count
  FROM checkpoints
 WHERE stack_id = :stack_id
 ORDER BY version DESC
 LIMIT 1;

-- name: checkpoint_at_version^
SELECT version, deployment_gz, resource_count
  FROM checkpoints
 WHERE stack_id = :stack_id AND version = :version;

-- name: put_checkpoint!
-- Store (or replace) the deployment of one stack version.
INSERT INTO checkpoints (stack_id, version, update_id, deployment_gz, size_bytes, sha256,
                         resource_count)
VALUES (:stack_id, :version, :update_id, :deployment_gz, :size_bytes, :sha256, :resource_count)
ON CONFLICT (stack_id, version) DO UPDATE
   SET update_id = excluded.update_id,
       deployment_gz = excluded.deployment_gz,
       size_bytes = excluded.size_bytes,
       sha256 = excluded.sha256,
       resource_count = excluded.resource_count,
       updated_at = now();
