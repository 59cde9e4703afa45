-- Authentication: each request's credentials resolved in one statement (one round trip, its own
-- transaction), together with the failed-authentication block of the client (auth_failures.sql)
-- and, for API tokens, the caller's role in the organization of the URL and their permission on
-- the stack of the URL. Nothing is cached
-- between requests: a revoked token or a removed membership counts from the next request.

-- name: authenticate_token^
-- One row always. retry_after: seconds the client must wait (it reached :failure_limit failed
-- authentications in its window; 0 turns the check off), and then nothing else is looked up.
-- Otherwise the token (NULL token_id: unknown, revoked or expired) and what it acts as: a user
-- (personal token), an organization (token_org) or a team of one (token_team); last_used_at
-- written at most once per :touch_seconds per token, in this same statement.
-- With :org_name, the caller's role in that organization (NULL: none, or no such organization):
-- a user's membership (admin of the organization named after them); an organization token's
-- 'admin' or 'member' (its admin flag) in its own organization only; a team token's 'member'
-- in its team's organization only. With :stack_name too, the caller's permission on that stack
-- (Pulumi's 0 none, 101 read, 102 write, 103 admin): the union (the highest) of what the role
-- gives and the grants of the caller's teams on the stack, by migration 0026's
-- stack_permission. The role gives: admin 103; member the organization's
-- default_stack_permission; viewer that default but at most read; an organization token 102
-- (103 when admin); a team token nothing but its team's grants. The
-- organization's members_can_create/delete_stacks come along for the routes that need them.
-- And with :with_summary, the stack's summary (below). With :env_name (and :project_name)
-- instead, the caller's permission on that ESC environment (0 none or no such environment, 1
-- read, 2 open, 3 write, 4 admin) by the rule of migration 0025's environment_permission,
-- :viewer_env_cap being the most a viewer gets from the organization's default.
WITH blocked AS (
    SELECT CAST(ceil(extract(epoch FROM window_start + make_interval(secs => :window_seconds)
                                        - now())) AS integer) AS retry_after
      FROM auth_failures
     WHERE :failure_limit > 0
       AND client = :client
       AND failures >= :failure_limit
       AND window_start > now() - make_interval(secs => :window_seconds)
), caller AS (
    SELECT u.id, u.login, u.name, u.email, t.id AS token_id, t.kind AS token_kind,
           t.name AS token_name, t.admin AS token_admin, t.org_id AS token_org_id,
           t.team_id AS token_team_id, tor.name AS token_org, ttm.name AS token_team
      FROM access_tokens t
      LEFT JOIN users u ON u.id = t.user_id
      LEFT JOIN organizations tor ON tor.id = t.org_id
      LEFT JOIN teams ttm ON ttm.id = t.team_id
     WHERE t.token_hash = :token_hash
       AND t.revoked_at IS NULL
       -- An expired token fails from its first request after the instant: no sweeper needed.
       AND (t.expires_at IS NULL OR t.expires_at > now())
       AND NOT EXISTS (SELECT 1 FROM blocked)
), touched AS (
    UPDATE access_tokens t
       SET last_used_at = now()
      FROM caller c
     WHERE t.id = c.token_id
       -- On the row itself, so that a request that waited for another's touch skips its own.
       AND (t.last_used_at IS NULL
            OR t.last_used_at < now() - make_interval(secs => :touch_seconds))
), org AS (
    SELECT o.id, o.default_stack_permission, o.members_can_create_stacks,
           o.members_can_delete_stacks, o.default_environment_permission
      FROM organizations o
     WHERE o.name = :org_name
), held AS (
    SELECT CASE
             WHEN c.token_id IS NULL OR CAST(:org_name AS text) IS NULL THEN NULL
             WHEN c.token_kind = 'organization' THEN
                  CASE WHEN c.token_org_id = o.id THEN
                       CASE WHEN c.token_admin THEN 'admin' ELSE 'member' END END
             WHEN c.token_kind = 'team' THEN
                  CASE WHEN c.token_org_id = o.id THEN 'member' END
             WHEN c.login = :org_name THEN 'admin'
             ELSE (SELECT m.role FROM memberships m WHERE m.org_id = o.id AND m.user_id = c.id)
           END AS role
      FROM (SELECT 1) AS one
      LEFT JOIN caller c ON true
      LEFT JOIN org o ON true
), stack AS (
    -- The (live) stack of the URL, or the one a former name of it (a rename) still leads to:
    -- a deleted stack answers to neither.
    (SELECT s.id
       FROM org o
       JOIN projects p ON p.org_id = o.id AND p.name = :project_name
       JOIN stacks s ON s.project_id = p.id AND s.name = :stack_name
                     AND s.deleted_at IS NULL
      WHERE CAST(:stack_name AS text) IS NOT NULL)
    UNION ALL
    (SELECT a.stack_id
       FROM org o
       JOIN projects p ON p.org_id = o.id AND p.name = :project_name
       JOIN stack_aliases a ON a.project_id = p.id AND a.name = :stack_name
       JOIN stacks s ON s.id = a.stack_id AND s.deleted_at IS NULL
      WHERE CAST(:stack_name AS text) IS NOT NULL)
    LIMIT 1
), caller_teams AS (
    -- The teams whose grants the caller has: a user's teams, or a team token's team. Grants
    -- and team members are of the team's organization only (app/teams.py, and the foreign
    -- keys of team_members and team_environment_permissions).
    SELECT c.token_team_id AS team_id FROM caller c WHERE c.token_kind = 'team'
    UNION ALL
    SELECT tm.team_id FROM caller c JOIN team_members tm ON tm.user_id = c.id
     WHERE c.token_kind = 'personal'
), granted AS (
    -- The highest grant on the stack of the caller's teams.
    SELECT max(tsp.permission) AS permission
      FROM stack st
      JOIN team_stack_permissions tsp ON tsp.stack_id = st.id
     WHERE tsp.team_id IN (SELECT team_id FROM caller_teams)
), env AS (
    SELECT e.id
      FROM org o
      JOIN environments e ON e.org_id = o.id AND e.project = :project_name AND e.name = :env_name
     WHERE CAST(:env_name AS text) IS NOT NULL
), env_granted AS (
    -- The highest grant on the environment of the caller's teams.
    SELECT max(tep.permission) AS permission
      FROM env
      JOIN team_environment_permissions tep ON tep.environment_id = env.id
     WHERE tep.team_id IN (SELECT team_id FROM caller_teams)
)
SELECT (SELECT retry_after FROM blocked) AS retry_after,
       c.id, c.login, c.name, c.email, c.token_id, c.token_kind, c.token_name, c.token_admin,
       c.token_org, c.token_team, c.token_org_id, c.token_team_id, h.role,
       CASE WHEN CAST(:stack_name AS text) IS NOT NULL THEN
            stack_permission(h.role, c.token_kind, o.default_stack_permission,
                             (SELECT permission FROM granted))
       END AS stack_permission,
       CASE WHEN CAST(:env_name AS text) IS NULL THEN NULL
            WHEN NOT EXISTS (SELECT 1 FROM env) THEN 0
            ELSE environment_permission(h.role, c.token_kind, o.default_environment_permission,
                                        :viewer_env_cap, (SELECT permission FROM env_granted))
       END AS env_permission,
       o.members_can_create_stacks, o.members_can_delete_stacks,
       -- With :with_summary (GET stack), the stack as the API shows it (migration 0024's view),
       -- when the URL names it by its current name: the route then needs no second round trip.
       (SELECT to_jsonb(v) FROM stack_summaries v
         WHERE CAST(:with_summary AS boolean) AND h.role IS NOT NULL
           AND v.id = (SELECT id FROM stack)
           AND v.project_name = :project_name AND v.stack_name = :stack_name) AS stack_summary
  FROM (SELECT 1) AS one
  LEFT JOIN caller c ON true
  LEFT JOIN held h ON true
  LEFT JOIN org o ON true;

-- name: authenticate_lease^
-- One row always: retry_after as above, then the update holding the lease token (NULL id: no
-- such lease) with the stack it belongs to and whether the lease has expired.
WITH blocked AS (
    SELECT CAST(ceil(extract(epoch FROM window_start + make_interval(secs => :window_seconds)
                                        - now())) AS integer) AS retry_after
      FROM auth_failures
     WHERE :failure_limit > 0
       AND client = :client
       AND failures >= :failure_limit
       AND window_start > now() - make_interval(secs => :window_seconds)
), lease AS (
    SELECT u.id, u.stack_id, u.kind, u.dry_run, u.status, u.version, u.initiator_id,
           u.journal_version, iu.login AS initiator_login,
           u.lease_expires_at < now() AS expired,
           o.name AS org_name, p.name AS project_name, s.name AS stack_name
      FROM updates u
      JOIN stacks s ON s.id = u.stack_id AND s.deleted_at IS NULL
      JOIN projects p ON p.id = s.project_id
      JOIN organizations o ON o.id = p.org_id
      LEFT JOIN users iu ON iu.id = u.initiator_id
     WHERE u.lease_token_hash = :lease_token_hash
       AND NOT EXISTS (SELECT 1 FROM blocked)
)
SELECT (SELECT retry_after FROM blocked) AS retry_after, l.*
  FROM (SELECT 1) AS one
  LEFT JOIN lease l ON true;
