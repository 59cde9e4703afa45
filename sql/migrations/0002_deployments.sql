-- 0002: indexes for the update lifecycle.

-- Deleting a stack deletes its updates, and each deleted update is looked up in checkpoints through
-- the update_id foreign key: without this index, one sequential scan of checkpoints per update.
CREATE INDEX checkpoints_update ON checkpoints (update_id);

-- GET .../updates/latest/previews: a stack's dry runs, newest first.
CREATE INDEX updates_stack_previews ON updates (stack_id, created_at DESC) WHERE dry_run;
