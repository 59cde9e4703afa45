-- Journal entries of journaled updates.

-- name: insert_journal_entries!
-- One statement per batch; entries already stored (a retried batch) are skipped.
INSERT INTO journal_entries (update_id, sequence_id, entry)
SELECT CAST(:update_id AS uuid), s, e
  FROM unnest(CAST(:sequence_ids AS bigint[]), CAST(:entries AS text[])) AS t (s, e)
ON CONFLICT (update_id, sequence_id) DO NOTHING;

-- name: journal_entries
SELECT entry FROM journal_entries WHERE update_id = CAST(:update_id AS uuid) ORDER BY sequence_id;

-- name: running_journaled_update^
-- The stack's running journaled update, if any: its state is the journal replayed.
SELECT id, version, cli_version
  FROM updates
 WHERE stack_id = :stack_id AND status = 'running' AND NOT dry_run AND journal_version > 0;

-- name: base_checkpoint^
-- The state an update started from: the latest version before its own.
SELECT version, deployment_gz, size_bytes
  FROM checkpoints
 WHERE stack_id = :stack_id AND version < :version
 ORDER BY version DESC
 LIMIT 1;

-- name: lock_update_checkpoint^
-- A running real update's checkpoint sequence and current text, locked for a verbatim or delta
-- save (the CLI sends them one at a time; the lock makes a retry wait for the original).
SELECT u.checkpoint_sequence, c.deployment_gz, c.resource_count
  FROM updates u
  LEFT JOIN checkpoints c ON c.stack_id = u.stack_id AND c.version = u.version
                         AND c.update_id = u.id
 WHERE u.id = CAST(:update_id AS uuid) AND u.status = 'running' AND NOT u.dry_run
   FOR UPDATE OF u;

-- name: set_checkpoint_sequence!
UPDATE updates SET checkpoint_sequence = :sequence WHERE id = CAST(:update_id AS uuid);

-- name: persistence_of_update^
-- How an update sent its state: journal entries, verbatim/delta checkpoints, or full ones.
SELECT journal_version, cli_version, checkpoint_sequence FROM updates
 WHERE id = CAST(:update_id AS uuid);
