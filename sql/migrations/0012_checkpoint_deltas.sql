-- 0012: delta checkpoints cost what they change. A delta save appends its edits here instead of
-- rewriting the update's whole state; the state is rewritten whole (compacted into its checkpoint
-- row) only every so often and when the update ends. The checkpoint row of a running delta-mode
-- update holds the text as of checkpoint_base_sequence; its deltas after that sequence, applied
-- in order, give the current text, whose hash and sequence the update row keeps.
CREATE TABLE checkpoint_deltas (
    update_id  uuid NOT NULL REFERENCES updates (id) ON DELETE CASCADE,
    sequence   integer NOT NULL,
    -- The CLI's edits (gotextdiff TextEdit JSON) of the text after the previous sequence.
    edits      text NOT NULL,
    -- SHA-256 (hex) of the text once they are applied, checked when the delta was saved.
    sha256     text NOT NULL,
    PRIMARY KEY (update_id, sequence)
);

ALTER TABLE updates ADD COLUMN checkpoint_base_sequence integer NOT NULL DEFAULT 0;
-- SHA-256 (hex) of the text as of checkpoint_sequence: the CLI's hash of the last save.
ALTER TABLE updates ADD COLUMN checkpoint_sha256 text;
