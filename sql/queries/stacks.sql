-- Stacks and their projects.

-- name: ensure_org!
INSERT INTO organizations (name) VALUES (:org_name) ON CONFLICT (name) DO NOTHING;

-- name: ensure_project$
-- The project's id, creating it if needed. DO UPDATE (a no-op change) rather than DO NOTHING:
-- when another transaction creates the same project at the same moment, DO NOTHING returns no
-- row and a SELECT in the same statement cannot see the other's row (its snapshot predates the
-- commit), whereas DO UPDATE waits for that transaction and returns the row it made.
INSERT INTO projects (org_id, name)
SELECT id, :project_name FROM organizations WHERE name = :org_name
ON CONFLICT (org_id, name) DO UPDATE SET name = excluded.name
RETURNING id;

-- name: insert_stack^
-- Nothing is returned when a live stack of that name exists (deleted ones leave it free).
INSERT INTO stacks (project_id, name, tags)
VALUES (:project_id, :stack_name, :tags)
ON CONFLICT (project_id, name) WHERE deleted_at IS NULL DO NOTHING
RETURNING id, name, tags, version;

-- name: project_exists$
-- Pulumi's rule: a project exists while it has a (live) stack (its row outlives its last stack,
-- which a delete or a rename into another project takes away).
SELECT EXISTS (
    SELECT 1 FROM stacks s JOIN projects p ON p.id = s.project_id
      JOIN organizations o ON o.id = p.org_id
     WHERE o.name = :org_name AND p.name = :project_name AND s.deleted_at IS NULL
);

-- name: get_stack^
-- A (live) stack with its running real operation (if any) and its current resource count (the
-- view of migration 0024, which shows live stacks only).
SELECT v.*
  FROM stack_summaries v
 WHERE v.org_name = :org_name AND v.project_name = :project_name AND v.stack_name = :stack_name;

-- name: lock_stack^
-- The stack row locked for a change that must not interleave with another (delete, rename,
-- start of an update, import), with what those changes check.
SELECT s.id, s.version, s.project_id, o.id AS org_id,
       EXISTS (SELECT 1 FROM updates u
                WHERE u.stack_id = s.id AND u.status = 'running' AND NOT u.dry_run) AS busy,
       coalesce((SELECT c.resource_count FROM checkpoints c
                  WHERE c.stack_id = s.id ORDER BY c.version DESC LIMIT 1), 0) AS resource_count
  FROM stacks s
  JOIN projects p ON p.id = s.project_id
  JOIN organizations o ON o.id = p.org_id
 WHERE o.name = :org_name AND p.name = :project_name AND s.name = :stack_name
   AND s.deleted_at IS NULL
   FOR UPDATE OF s;

-- name: delete_stack!
-- Deleted, not gone: the row and everything hanging off it stay until purge_deleted_stacks (or
-- a restore); from now on no query that finds stacks for a caller sees it.
UPDATE stacks SET deleted_at = now() WHERE id = :stack_id;

-- name: set_tags!
UPDATE stacks SET tags = :tags WHERE id = :stack_id;

-- name: rename_stack!
UPDATE stacks SET project_id = :project_id, name = :stack_name WHERE id = :stack_id;

-- name: list_stacks
-- The stacks the caller can read, filtered, in pages keyed on the stack id (ids never change and
-- are never reused, so a page boundary holds under concurrent inserts and deletes: no stack is
-- listed twice or skipped). Readable follows the rule of sql/queries/auth.sql: in each of the
-- caller's organizations their role gives a base permission (admin, and the personal
-- organization :login, 103; member the organization's default; viewer that default but at most
-- read; an organization token :token_permission in :token_org_id; a team token nothing in its
-- team's organization), and a stack below read is listed only when one of the caller's teams
-- (:user_id's, or the token's :team_id) has a grant on it.
-- Driven from the caller's memberships (memberships_user, then the projects and stacks of those
-- organizations through their unique indexes), so the cost follows the stacks the caller can see,
-- not the size of the database; tests/test_stack_list_scale.py checks the plan. The page is cut
-- before its last updates and resource counts are looked up, so those cost one lookup per row.
WITH visible_orgs AS (
    SELECT id, max(base) AS base
      FROM (SELECT m.org_id AS id,
                   CASE m.role WHEN 'admin' THEN 103
                               WHEN 'member' THEN o.default_stack_permission
                               ELSE least(o.default_stack_permission, 101) END AS base
              FROM memberships m
              JOIN organizations o ON o.id = m.org_id
             WHERE m.user_id = :user_id
             UNION ALL
            SELECT o.id, 103 FROM organizations o WHERE o.name = :login
             UNION ALL
            SELECT CAST(:token_org_id AS bigint), :token_permission
             WHERE CAST(:token_org_id AS bigint) IS NOT NULL
             UNION ALL
            SELECT t.org_id, 0 FROM teams t WHERE t.id = :team_id) AS held
     GROUP BY id
), page AS (
    SELECT s.id, o.name AS org_name, p.name AS project_name, s.name AS stack_name,
           s.tags, s.version, s.active_update_id
      FROM visible_orgs v
      JOIN organizations o ON o.id = v.id
      JOIN projects p ON p.org_id = o.id
      JOIN stacks s ON s.project_id = p.id AND s.deleted_at IS NULL
      -- A grant matters only in an organization whose role gives less than read: looked up
      -- per stack there (team_stack_permissions_stack), never as a set the planner could hash
      -- and join the other way round.
      LEFT JOIN LATERAL (
          SELECT 1 AS found
            FROM team_stack_permissions tsp
           WHERE v.base < 101
             AND tsp.stack_id = s.id
             AND (tsp.team_id = :team_id
                  OR EXISTS (SELECT 1 FROM team_members tm
                              WHERE tm.team_id = tsp.team_id AND tm.user_id = :user_id))
           LIMIT 1
      ) granted ON true
     WHERE (CAST(:organization AS text) IS NULL OR o.name = :organization)
       AND (CAST(:project_name AS text) IS NULL OR p.name = :project_name)
       AND (CAST(:tag_name AS text) IS NULL OR s.tags ->> CAST(:tag_name AS text) IS NOT NULL)
       AND (CAST(:tag_value AS text) IS NULL OR s.tags ->> CAST(:tag_name AS text) = :tag_value)
       AND s.id > :after_id
       AND (v.base >= 101 OR granted.found IS NOT NULL)
     ORDER BY s.id
     LIMIT :page_size
)
SELECT page.*,
       lu.kind AS last_kind, lu.status AS last_status, lu.start_time AS last_start,
       (SELECT c.resource_count FROM checkpoints c
         WHERE c.stack_id = page.id ORDER BY c.version DESC LIMIT 1) AS resource_count
  FROM page
  LEFT JOIN LATERAL (
      SELECT u.kind, u.status, coalesce(u.start_time, u.created_at) AS start_time
        FROM updates u
       WHERE u.stack_id = page.id AND NOT u.dry_run AND u.version IS NOT NULL
       ORDER BY u.version DESC
       LIMIT 1
  ) lu ON true
 ORDER BY page.id;

-- name: add_stack_alias!
-- The name a stack is renamed away from keeps leading to it (a later rename of another stack away
-- from the same name takes it over).
INSERT INTO stack_aliases (project_id, name, stack_id)
VALUES (:project_id, :stack_name, :stack_id)
ON CONFLICT (project_id, name) DO UPDATE SET stack_id = excluded.stack_id, created_at = now();

-- name: drop_stack_alias!
-- A stack now holds this name: it no longer leads to the stack that held it before.
DELETE FROM stack_aliases WHERE project_id = :project_id AND name = :stack_name;

-- Deleted stacks (migration 0019): restorable while deleted_at is within :retention_days.

-- name: deleted_stacks
-- The organization's restorable stacks, the most recently deleted first, with their last real
-- operation and resource count (Pulumi's DeletedStack).
SELECT s.id, p.name AS project_name, s.name AS stack_name, s.version, s.deleted_at,
       lu.status AS last_status, lu.start_time AS last_start, lu.end_time AS last_end,
       (SELECT c.resource_count FROM checkpoints c
         WHERE c.stack_id = s.id ORDER BY c.version DESC LIMIT 1) AS resource_count
  FROM organizations o
  JOIN projects p ON p.org_id = o.id
  JOIN stacks s ON s.project_id = p.id
  LEFT JOIN LATERAL (
      SELECT u.status, coalesce(u.start_time, u.created_at) AS start_time, u.end_time
        FROM updates u
       WHERE u.stack_id = s.id AND NOT u.dry_run AND u.version IS NOT NULL
       ORDER BY u.version DESC
       LIMIT 1
  ) lu ON true
 WHERE o.name = :org_name
   AND s.deleted_at > now() - make_interval(days => :retention_days)
 ORDER BY s.deleted_at DESC, s.id DESC;

-- name: lock_deleted_stack^
-- One restorable stack of the organization, locked for its restore (a second restore, or the
-- purge, of the same stack waits and then no longer finds it).
SELECT s.id, s.project_id, p.name AS project_name, s.name AS stack_name
  FROM stacks s
  JOIN projects p ON p.id = s.project_id
  JOIN organizations o ON o.id = p.org_id
 WHERE o.name = :org_name AND s.id = :stack_id
   AND s.deleted_at > now() - make_interval(days => :retention_days)
   FOR UPDATE OF s;

-- name: restore_stack!
-- Live again, under :stack_name (a unique violation when a live stack holds that name).
UPDATE stacks SET deleted_at = NULL, name = :stack_name WHERE id = :stack_id;

-- name: purge_deleted_stacks
-- Up to :batch stacks deleted more than :retention_days ago, gone for good with everything
-- that hangs off them (ON DELETE CASCADE); rows another transaction holds (a restore) are
-- skipped. What was purged is returned, for the audit log.
WITH expired AS (
    SELECT id FROM stacks
     WHERE deleted_at <= now() - make_interval(days => :retention_days)
     ORDER BY deleted_at
     LIMIT :batch
       FOR UPDATE SKIP LOCKED
)
DELETE FROM stacks s
 USING expired e, projects p, organizations o
 WHERE s.id = e.id AND p.id = s.project_id AND o.id = p.org_id
RETURNING o.name AS org_name, p.name AS project_name, s.name AS stack_name, s.deleted_at;

-- name: try_job_lock$
-- Whether this transaction got the advisory lock of a periodic job (:job_key): one worker at a
-- time runs it, whatever the number of workers and hosts; the lock goes with the transaction.
SELECT pg_try_advisory_xact_lock(:job_key);
