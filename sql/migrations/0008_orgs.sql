-- 0008: organization settings, each user's default organization, and access tokens that can
-- expire, carry a name, and (later) belong to an organization or a team instead of a user.

-- Settings an organization admin changes over the API (PATCH /api/orgs/{org}). The defaults
-- are what the service did before they existed: members read and write every stack of their
-- organization (Pulumi's stack permission 102, "write") and create stacks; only admins delete.
-- They are stored and returned here; enforcing them is a later step.
ALTER TABLE organizations
    ADD COLUMN default_stack_permission  integer NOT NULL DEFAULT 102
        CHECK (default_stack_permission IN (0, 101, 102, 103)),
    ADD COLUMN members_can_create_stacks boolean NOT NULL DEFAULT true,
    ADD COLUMN members_can_delete_stacks boolean NOT NULL DEFAULT false;

-- The organization the CLI uses when a stack name has none; NULL means the personal one. A
-- membership that ends leaves a stale value, which readers ignore (they join on memberships).
ALTER TABLE users
    ADD COLUMN default_org_id bigint REFERENCES organizations (id) ON DELETE SET NULL;

-- Tokens: every existing token is a personal one. An organization token will have org_id and no
-- user_id, a team token a team as well (its column comes with the teams table), so user_id may
-- become NULL, but only for those kinds.
ALTER TABLE access_tokens
    ADD COLUMN kind       text NOT NULL DEFAULT 'personal'
        CHECK (kind IN ('personal', 'organization', 'team')),
    ADD COLUMN org_id     bigint REFERENCES organizations (id) ON DELETE CASCADE,
    -- Organization and team tokens have a name unique in their owner; personal ones only a
    -- description.
    ADD COLUMN name       text NOT NULL DEFAULT '',
    -- NULL: never expires. Checked by the token lookup itself, so an expired token is refused
    -- at its first use after the instant, with no sweeper.
    ADD COLUMN expires_at timestamptz,
    -- Who made it (an admin making an organization token is not its owner).
    ADD COLUMN created_by bigint REFERENCES users (id) ON DELETE SET NULL,
    ALTER COLUMN user_id DROP NOT NULL,
    ADD CONSTRAINT access_tokens_owner CHECK (
        (kind = 'personal' AND user_id IS NOT NULL) OR (kind <> 'personal' AND org_id IS NOT NULL)
    );
