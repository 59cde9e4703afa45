-- Checkpoints: the deployment of each stack version.

-- name: latest_checkpoint^
SELECT version, deployment_gz, blob_key, resource_count, size_bytes
  FROM checkpoints
 WHERE stack_id = :stack_id
 ORDER BY version DESC
 LIMIT 1;

-- name: checkpoint_at_version^
SELECT version, deployment_gz, blob_key, resource_count, size_bytes
  FROM checkpoints
 WHERE stack_id = :stack_id AND version = :version;

-- name: has_checkpoint$
SELECT EXISTS (SELECT 1 FROM checkpoints WHERE stack_id = :stack_id AND version = :version);

-- name: put_checkpoint!
-- Store (or replace) the deployment of one stack version: its bytes, or the key of the object
-- that holds them (blob store).
INSERT INTO checkpoints (stack_id, version, update_id, deployment_gz, blob_key, size_bytes, sha256,
                         resource_count)
VALUES (:stack_id, :version, :update_id, :deployment_gz, :blob_key, :size_bytes, :sha256,
        :resource_count)
ON CONFLICT (stack_id, version) DO UPDATE
   SET update_id = excluded.update_id,
       deployment_gz = excluded.deployment_gz,
       blob_key = excluded.blob_key,
       size_bytes = excluded.size_bytes,
       sha256 = excluded.sha256,
       resource_count = excluded.resource_count,
       updated_at = now();

-- name: put_update_checkpoint^
-- The running update's state, stored as its version's checkpoint (which is then the stack's
-- current state). The update row is share-locked so a concurrent cancel or complete waits for
-- this write instead of interleaving with it; nothing is written once the update is over.
WITH u AS (
    SELECT id, stack_id, version
      FROM updates
     WHERE id = CAST(:update_id AS uuid) AND status = 'running' AND NOT dry_run
       FOR SHARE
)
INSERT INTO checkpoints (stack_id, version, update_id, deployment_gz, size_bytes, sha256,
                         resource_count)
SELECT u.stack_id, u.version, u.id, :deployment_gz, :size_bytes, :sha256, :resource_count
  FROM u
ON CONFLICT (stack_id, version) DO UPDATE
   SET update_id = excluded.update_id,
       deployment_gz = excluded.deployment_gz,
       blob_key = NULL,
       size_bytes = excluded.size_bytes,
       sha256 = excluded.sha256,
       resource_count = excluded.resource_count,
       updated_at = now()
RETURNING version;

-- name: carry_checkpoint_forward!
-- A real operation that ends without having written its version's state (it failed or was
-- cancelled early) ends with the state it started from, so every version can be exported.
INSERT INTO checkpoints (stack_id, version, update_id, deployment_gz, blob_key, size_bytes, sha256,
                         resource_count)
SELECT stack_id, :version, CAST(:update_id AS uuid), deployment_gz, blob_key, size_bytes, sha256,
       resource_count
  FROM checkpoints
 WHERE stack_id = :stack_id AND version < :version
 ORDER BY version DESC
 LIMIT 1
ON CONFLICT (stack_id, version) DO NOTHING;
