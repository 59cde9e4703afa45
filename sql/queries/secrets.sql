-- Service-managed secrets: the stacks' wrapped data keys and the master key canary.

-- name: stack_secret_key^
-- A stack with its data key, if it has one yet, by its name or a former one (stack_aliases: the
-- CLI decrypts an old version's secrets through the name that version recorded). A name is
-- never both a stack's and an alias (app/stacks.py keeps it so).
WITH target AS (
    SELECT s.id
      FROM stacks s
      JOIN projects p ON p.id = s.project_id
      JOIN organizations o ON o.id = p.org_id
     WHERE o.name = :org_name AND p.name = :project_name AND s.name = :stack_name
       AND s.deleted_at IS NULL
    UNION ALL
    SELECT a.stack_id
      FROM stack_aliases a
      JOIN stacks s ON s.id = a.stack_id AND s.deleted_at IS NULL
      JOIN projects p ON p.id = a.project_id
      JOIN organizations o ON o.id = p.org_id
     WHERE o.name = :org_name AND p.name = :project_name AND a.name = :stack_name
)
SELECT t.id AS stack_id, k.key_id, k.master_key_id, k.wrapped_key
  FROM target t
  LEFT JOIN stack_secret_keys k ON k.stack_id = t.id
 LIMIT 1;

-- name: stack_secret_key_by_id^
SELECT stack_id, key_id, master_key_id, wrapped_key
  FROM stack_secret_keys
 WHERE stack_id = :stack_id;

-- name: insert_stack_secret_key!
-- A concurrent first encrypt may have given the stack its key already: then this does nothing,
-- and both callers read the winner's key back.
INSERT INTO stack_secret_keys (stack_id, key_id, master_key_id, wrapped_key)
VALUES (:stack_id, :key_id, :master_key_id, :wrapped_key)
ON CONFLICT (stack_id) DO NOTHING;

-- name: lock_active_master_key_id$
-- The master key new data keys are wrapped with. The share lock makes a rotation (which locks
-- the row for update) wait for key creations in flight, and creations wait for the rotation.
SELECT master_key_id FROM secrets_canary WHERE id = 1 FOR SHARE;

-- name: get_secrets_canary^
SELECT master_key_id, sealed FROM secrets_canary WHERE id = 1;

-- name: lock_secrets_canary^
SELECT master_key_id, sealed FROM secrets_canary WHERE id = 1 FOR UPDATE;

-- name: insert_secrets_canary!
-- Several workers start at once on a new database: the first one's canary wins.
INSERT INTO secrets_canary (id, master_key_id, sealed)
VALUES (1, :master_key_id, :sealed)
ON CONFLICT (id) DO NOTHING;

-- name: update_secrets_canary!
UPDATE secrets_canary
   SET master_key_id = :master_key_id, sealed = :sealed, rotated_at = now()
 WHERE id = 1;

-- name: data_keys_per_master_key
SELECT master_key_id, count(*) AS stacks
  FROM stack_secret_keys
 GROUP BY master_key_id
 ORDER BY master_key_id;

-- name: lock_all_stack_secret_keys
-- Every data key, locked for its re-wrapping (deletes of stacks wait for the rotation).
SELECT stack_id, key_id, master_key_id, wrapped_key
  FROM stack_secret_keys
 ORDER BY stack_id
   FOR UPDATE;

-- name: rewrap_stack_secret_keys!
-- All re-wrapped data keys in one statement (parallel arrays of stack ids and wrapped keys).
UPDATE stack_secret_keys k
   SET master_key_id = :master_key_id, wrapped_key = v.wrapped_key, rewrapped_at = now()
  FROM unnest(CAST(:stack_ids AS bigint[]), CAST(:wrapped_keys AS bytea[]))
       AS v (stack_id, wrapped_key)
 WHERE k.stack_id = v.stack_id;
