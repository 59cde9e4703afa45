-- State blobs: checkpoint rows whose state is an object in the blob store (blob_key), and the
-- locks that keep the collector from deleting an object a transaction is about to name.

-- name: lock_blob_writes$
-- Taken (shared) by every transaction before it writes an object it will name, held until it
-- commits: the collector's exclusive lock waits for it, so an object rewritten (same content, same
-- key) after the collector listed it is never deleted under a row about to name it.
SELECT 1 FROM pg_advisory_xact_lock_shared(7461002101);

-- name: lock_blob_deletes$
SELECT 1 FROM pg_advisory_xact_lock(7461002101);

-- name: try_lock_blob_collector$
-- One collector at a time, whichever host runs it (held by the collector's own connection
-- for its run, released when it closes).
SELECT pg_try_advisory_lock(7461002102);

-- name: inline_checkpoint_over^
-- A version's state still kept inline, if it is at least :min_bytes compressed.
SELECT deployment_gz
  FROM checkpoints
 WHERE stack_id = :stack_id AND version = :version AND deployment_gz IS NOT NULL
   AND octet_length(deployment_gz) >= :min_bytes;

-- name: set_checkpoint_blob!
-- The version's state now lives in the object :blob_key (written before this commits).
UPDATE checkpoints SET blob_key = :blob_key, deployment_gz = NULL
 WHERE stack_id = :stack_id AND version = :version;

-- name: unreferenced_blob_keys
-- Which of :keys no checkpoint row names.
SELECT k AS key
  FROM unnest(CAST(:keys AS text[])) AS k
 WHERE NOT EXISTS (SELECT 1 FROM checkpoints c WHERE c.blob_key = k);

-- name: referenced_blob_keys
-- Every object a checkpoint row names (what a backup copies), each once.
SELECT DISTINCT blob_key AS key FROM checkpoints WHERE blob_key IS NOT NULL ORDER BY 1;

-- name: inline_checkpoints_to_move
-- A batch of finished versions kept inline at or above :min_bytes (not the running update's own
-- version: its row is working data), in key order after (:after_stack, :after_version).
SELECT c.stack_id, c.version, c.deployment_gz
  FROM checkpoints c
 WHERE c.deployment_gz IS NOT NULL AND octet_length(c.deployment_gz) >= :min_bytes
   AND (c.stack_id, c.version) > (:after_stack, :after_version)
   AND NOT EXISTS (SELECT 1 FROM updates u
                    WHERE u.stack_id = c.stack_id AND u.version = c.version
                      AND u.status = 'running' AND NOT u.dry_run)
 ORDER BY c.stack_id, c.version
 LIMIT :batch;

-- name: blob_checkpoints_to_move
-- A batch of versions kept as objects, in key order after (:after_stack, :after_version).
SELECT stack_id, version, blob_key
  FROM checkpoints
 WHERE blob_key IS NOT NULL AND (stack_id, version) > (:after_stack, :after_version)
 ORDER BY stack_id, version
 LIMIT :batch;

-- name: set_checkpoint_inline!
-- The version's state back in the row, if it is still the object :blob_key.
UPDATE checkpoints SET deployment_gz = :deployment_gz, blob_key = NULL
 WHERE stack_id = :stack_id AND version = :version AND blob_key = :blob_key;

-- name: set_checkpoint_blob_if_inline!
-- The migrate command's move: only if the row still holds the bytes it read (same hash).
UPDATE checkpoints SET blob_key = :blob_key, deployment_gz = NULL
 WHERE stack_id = :stack_id AND version = :version AND deployment_gz IS NOT NULL
   AND sha256(deployment_gz) = decode(:digest, 'hex');
