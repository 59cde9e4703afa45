-- 0027: retracted ESC environment revisions (`pulumi env version retract`). A retracted revision
-- can no longer be read or opened; the tags that named it name its replacement instead (an
-- earlier revision, or the one the retraction chose), and the revision list says who retracted
-- it, when and why. The text stays, so that what was retracted can be audited by an operator.
ALTER TABLE environment_revisions
    ADD COLUMN retracted_at      timestamptz,
    ADD COLUMN retracted_by      bigint REFERENCES users (id) ON DELETE SET NULL,
    ADD COLUMN retraction_reason text NOT NULL DEFAULT '',
    ADD COLUMN replacement       integer,
    ADD CONSTRAINT environment_revisions_retraction
        CHECK ((retracted_at IS NULL) = (replacement IS NULL) AND replacement <> number);
