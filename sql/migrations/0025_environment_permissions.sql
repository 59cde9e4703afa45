-- 0025: who may do what to an ESC environment, as Pulumi's environment permissions: none, read
-- (the definition, secrets as ciphertext; open with secrets hidden), open (secrets in plain
-- text), write (edit, tags), admin (delete). Stored as 0 to 4, in that order.
-- Members get the organization's default (Pulumi's defaultEnvironmentPermission, 'write' as in
-- Pulumi Cloud, which is what members could do before this migration); teams get grants on
-- environments, as on stacks (0013).

ALTER TABLE organizations
    ADD COLUMN default_environment_permission smallint NOT NULL DEFAULT 3
        CHECK (default_environment_permission BETWEEN 0 AND 4);

-- The target of the grants' foreign key, which ties a grant's environment to its team's org.
ALTER TABLE environments ADD CONSTRAINT environments_id_org UNIQUE (id, org_id);

CREATE TABLE team_environment_permissions (
    team_id        bigint NOT NULL,
    environment_id bigint NOT NULL,
    org_id         bigint NOT NULL,
    -- 1 read, 2 open, 3 write, 4 admin ("none" is no row).
    permission     smallint NOT NULL CHECK (permission BETWEEN 1 AND 4),
    PRIMARY KEY (team_id, environment_id),
    FOREIGN KEY (team_id, org_id) REFERENCES teams (id, org_id) ON DELETE CASCADE,
    FOREIGN KEY (environment_id, org_id) REFERENCES environments (id, org_id) ON DELETE CASCADE
);
-- From an environment to the teams with a grant on it (the authentication statement, lists).
CREATE INDEX team_environment_permissions_environment
    ON team_environment_permissions (environment_id, team_id);

-- The one rule (the authentication statement's and the environment list's): a caller's
-- permission on an environment from their role in its organization (NULL: none), the kind of
-- their token, the organization's default, the most a viewer gets (:viewer_cap: read, or open
-- when the service lets viewers decrypt) and the highest grant of their teams. Admins (and
-- admin organization tokens) administer every environment; an organization token writes; a
-- team token has its team's grants only.
CREATE FUNCTION environment_permission(role text, token_kind text, default_permission integer,
                                       viewer_cap integer, granted integer)
RETURNS integer LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
             WHEN role IS NULL THEN 0
             WHEN role = 'admin' THEN 4
             WHEN token_kind = 'organization' THEN 3
             ELSE greatest(CASE WHEN token_kind = 'team' THEN 0
                                WHEN role = 'member' THEN default_permission
                                ELSE least(default_permission, viewer_cap) END,
                           coalesce(granted, 0))
           END
$$;
