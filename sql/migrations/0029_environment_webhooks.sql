-- 0029: webhooks of ESC environments (`pulumi env webhook`). A hook belongs to its organization,
-- to one stack, or (new) to one environment, and goes with it. Organization hooks are now the
-- rows with neither a stack nor an environment.
--
-- Upgrading: the previous release reads organization hooks as `stack_id IS NULL`, so while it
-- still runs it would list an environment's hook among the organization's and send it the
-- organization's events. No environment hook exists until a host of this release makes one:
-- make environment hooks once every host runs this release.

ALTER TABLE webhooks
    ADD COLUMN environment_id bigint REFERENCES environments (id) ON DELETE CASCADE,
    ADD CONSTRAINT webhooks_one_owner CHECK (stack_id IS NULL OR environment_id IS NULL);

-- A few rows per organization: built at once, within the migration's transaction.
CREATE INDEX webhooks_environment ON webhooks (environment_id) WHERE environment_id IS NOT NULL;
