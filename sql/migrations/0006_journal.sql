-- 0006: journaled updates (PATCH .../journalentries) and delta checkpoints
-- (PATCH .../checkpointverbatim and .../checkpointdelta).

-- 1 when the update persists its state as journal entries (negotiated at start), else 0.
ALTER TABLE updates ADD COLUMN journal_version integer NOT NULL DEFAULT 0;
-- The CLI's version (from its User-Agent), written into the manifest of a replayed state.
ALTER TABLE updates ADD COLUMN cli_version text NOT NULL DEFAULT '';
-- The last verbatim or delta checkpoint applied: a delta must carry the next number, a retry
-- of an applied one is acknowledged without being applied twice.
ALTER TABLE updates ADD COLUMN checkpoint_sequence integer NOT NULL DEFAULT 0;

-- The entries of a journaled update, in the CLI's sequence order; replayed onto the state the
-- update started from when its state is read and when the update ends. Retried batches collide
-- on the primary key and are ignored.
CREATE TABLE journal_entries (
    update_id   uuid NOT NULL REFERENCES updates (id) ON DELETE CASCADE,
    sequence_id bigint NOT NULL,
    entry       text NOT NULL,
    PRIMARY KEY (update_id, sequence_id)
);
