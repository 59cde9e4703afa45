-- Journal entries of journaled updates.

-- name: insert_journal_entries^
-- One statement per batch; entries already stored (a retried batch) are skipped. As for a
-- checkpoint, the update row is share-locked so that a concurrent cancel or abandon waits for
-- this batch (and replays it), and nothing is stored once the update is over: no row then.
WITH u AS (
    SELECT id FROM updates
     WHERE id = CAST(:update_id AS uuid) AND status = 'running' AND NOT dry_run
       FOR SHARE
), stored AS (
    INSERT INTO journal_entries (update_id, sequence_id, entry)
    SELECT u.id, s, e
      FROM u, unnest(CAST(:sequence_ids AS bigint[]), CAST(:entries AS text[])) AS t (s, e)
    ON CONFLICT (update_id, sequence_id) DO NOTHING
)
SELECT id FROM u;

-- name: journal_entries
SELECT entry FROM journal_entries WHERE update_id = CAST(:update_id AS uuid) ORDER BY sequence_id;

-- name: running_journaled_update^
-- The stack's running journaled update, if any: its state is the journal replayed.
SELECT id, version, cli_version
  FROM updates
 WHERE stack_id = :stack_id AND status = 'running' AND NOT dry_run AND journal_version > 0;

-- name: base_checkpoint^
-- The state an update started from: the latest version before its own.
SELECT version, deployment_gz, blob_key, size_bytes
  FROM checkpoints
 WHERE stack_id = :stack_id AND version < :version
 ORDER BY version DESC
 LIMIT 1;

-- name: persistence_of_update^
-- How an update sent its state: journal entries, verbatim/delta checkpoints, or full ones.
SELECT journal_version, cli_version, checkpoint_sequence FROM updates
 WHERE id = CAST(:update_id AS uuid);

-- name: lock_update_delta_state^
-- A running real update's verbatim/delta bookkeeping, locked for a save (the CLI sends saves one
-- at a time; the lock makes a retry wait for the original). No state bytes: a delta save reads
-- the text from the worker's memory when it is current there.
SELECT u.checkpoint_sequence, u.checkpoint_base_sequence, u.checkpoint_sha256,
       -- Counted when the update ends (counting means parsing it all); until then the count of
       -- the last verbatim save stands.
       (SELECT c.resource_count FROM checkpoints c
         WHERE c.stack_id = u.stack_id AND c.version = u.version AND c.update_id = u.id)
           AS resource_count
  FROM updates u
 WHERE u.id = CAST(:update_id AS uuid) AND u.status = 'running' AND NOT u.dry_run
   FOR UPDATE OF u;

-- name: delta_state^
-- The same, unlocked, for a reader of the running update's state.
SELECT checkpoint_sequence, checkpoint_base_sequence, checkpoint_sha256
  FROM updates WHERE id = CAST(:update_id AS uuid);

-- name: set_delta_state!
UPDATE updates
   SET checkpoint_sequence = :sequence, checkpoint_base_sequence = :base_sequence,
       checkpoint_sha256 = :sha256
 WHERE id = CAST(:update_id AS uuid);

-- name: insert_checkpoint_delta!
INSERT INTO checkpoint_deltas (update_id, sequence, edits, sha256)
VALUES (CAST(:update_id AS uuid), :sequence, :edits, :sha256);

-- name: saved_text_sha256$
-- The hash of an update's text as saved at `sequence`: its checkpoint row's when that is the
-- compacted text, else the delta's.
SELECT CASE WHEN u.checkpoint_base_sequence = :sequence THEN
            (SELECT c.sha256 FROM checkpoints c
              WHERE c.stack_id = u.stack_id AND c.version = u.version AND c.update_id = u.id)
       ELSE (SELECT d.sha256 FROM checkpoint_deltas d
              WHERE d.update_id = u.id AND d.sequence = :sequence) END
  FROM updates u WHERE u.id = CAST(:update_id AS uuid);

-- name: checkpoint_deltas_after
-- The deltas of an update after `after`, in order (to rebuild its current text).
SELECT sequence, edits FROM checkpoint_deltas
 WHERE update_id = CAST(:update_id AS uuid) AND sequence > :after
 ORDER BY sequence;

-- name: drop_checkpoint_deltas!
-- Deltas compacted into the checkpoint row.
DELETE FROM checkpoint_deltas WHERE update_id = CAST(:update_id AS uuid) AND sequence <= :upto;

-- name: update_checkpoint_gz^
-- The stored (compacted) text of an update's own version.
SELECT c.deployment_gz, c.blob_key
  FROM updates u
  JOIN checkpoints c ON c.stack_id = u.stack_id AND c.version = u.version AND c.update_id = u.id
 WHERE u.id = CAST(:update_id AS uuid);

-- name: running_delta_update^
-- The stack's running real update whose current text is ahead of its checkpoint row (deltas
-- not yet compacted), if any.
SELECT id, checkpoint_sequence FROM updates
 WHERE stack_id = :stack_id AND status = 'running' AND NOT dry_run
   AND checkpoint_sequence > checkpoint_base_sequence;
