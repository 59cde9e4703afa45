-- 0013: teams, their members and their grants on stacks; organization and team tokens.

CREATE TABLE teams (
    id           bigserial PRIMARY KEY,
    org_id       bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name         text NOT NULL,
    display_name text NOT NULL DEFAULT '',
    description  text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, name),
    -- The target of team_members' foreign key, which ties a team member to the team's org.
    UNIQUE (id, org_id)
);

-- A team member is a member of the team's organization: the membership's foreign key makes
-- removing someone from the organization take them out of its teams, in the same statement.
CREATE TABLE team_members (
    team_id    bigint NOT NULL,
    org_id     bigint NOT NULL,
    user_id    bigint NOT NULL,
    role       text NOT NULL DEFAULT 'member' CHECK (role IN ('member', 'admin')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, user_id),
    FOREIGN KEY (team_id, org_id) REFERENCES teams (id, org_id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, user_id) REFERENCES memberships (org_id, user_id) ON DELETE CASCADE
);
-- The authorization statement and the stack list go from the caller to their teams.
CREATE INDEX team_members_user ON team_members (user_id, team_id);

-- A team's permission on a stack (Pulumi's 101 read, 102 write, 103 admin; "none" is no row).
CREATE TABLE team_stack_permissions (
    team_id    bigint NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    stack_id   bigint NOT NULL REFERENCES stacks (id) ON DELETE CASCADE,
    permission integer NOT NULL CHECK (permission IN (101, 102, 103)),
    PRIMARY KEY (team_id, stack_id)
);
-- From a stack to the teams with a grant on it (GET .../teams, the stack list's visibility).
CREATE INDEX team_stack_permissions_stack ON team_stack_permissions (stack_id, team_id);

-- Team tokens belong to a team (and its organization). Deleting a team revokes its tokens first
-- (app/teams.py): a revoked token keeps its row, with no team, so what it did stays attributable.
-- Organization tokens may be admin tokens (Pulumi's `admin` flag).
ALTER TABLE access_tokens
    ADD COLUMN team_id bigint REFERENCES teams (id) ON DELETE SET NULL,
    ADD COLUMN admin   boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT access_tokens_team CHECK (
        kind <> 'team' OR team_id IS NOT NULL OR revoked_at IS NOT NULL);

-- Names of organization tokens are unique in their organization, deleted ones included (as in
-- Pulumi Cloud); team tokens' in their team.
CREATE UNIQUE INDEX access_tokens_org_name ON access_tokens (org_id, name)
    WHERE kind = 'organization';
CREATE UNIQUE INDEX access_tokens_team_name ON access_tokens (team_id, name)
    WHERE kind = 'team';
-- Listing an organization's tokens.
CREATE INDEX access_tokens_org ON access_tokens (org_id) WHERE org_id IS NOT NULL;
