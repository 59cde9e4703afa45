-- 0028: ESC environment settings (`pulumi env settings`): deletion protection, which makes a
-- delete of the environment a 409 until it is turned off.
ALTER TABLE environments ADD COLUMN deletion_protected boolean NOT NULL DEFAULT false;
