-- The web console: passwords, sessions, and the role of a signed-in person in an organization.

-- name: set_password$
-- The user's id; NULL when there is no such login.
UPDATE users SET password_hash = :password_hash WHERE login = :login RETURNING id;

-- name: password_of_login^
SELECT id, password_hash FROM users WHERE login = :login;

-- name: create_console_session!
-- A new session, and expired ones dropped on the way so that the table stays small.
WITH expired AS (
    DELETE FROM console_sessions WHERE expires_at < now()
)
INSERT INTO console_sessions (id_hash, user_id, expires_at)
VALUES (:id_hash, :user_id, now() + make_interval(secs => :lifetime_seconds));

-- name: console_session_user^
-- The person behind a live session.
SELECT u.id, u.login, u.name, u.email
  FROM console_sessions s
  JOIN users u ON u.id = s.user_id
 WHERE s.id_hash = :id_hash AND s.expires_at > now();

-- name: delete_console_session!
DELETE FROM console_sessions WHERE id_hash = :id_hash;

-- name: person_access^
-- A signed-in person's role in :org_name (NULL: none; admin of the organization named after
-- them) and, with :stack_name, their permission on that stack: the rule authenticate_token
-- (auth.sql) applies to a personal token (migration 0026's stack_permission), the union of what
-- the role gives and the grants of their teams (tests/test_console_authz.py checks that the
-- console and the API agree).
WITH org AS (
    SELECT o.id, o.default_stack_permission, o.members_can_delete_stacks
      FROM organizations o
     WHERE o.name = :org_name
), held AS (
    SELECT CASE WHEN u.login = :org_name THEN 'admin'
                ELSE (SELECT m.role FROM org o
                        JOIN memberships m ON m.org_id = o.id AND m.user_id = u.id)
           END AS role
      FROM users u
     WHERE u.id = :user_id
), stack AS (
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
), granted AS (
    SELECT max(tsp.permission) AS permission
      FROM stack st
      JOIN team_stack_permissions tsp ON tsp.stack_id = st.id
     WHERE EXISTS (SELECT 1 FROM team_members tm
                    WHERE tm.team_id = tsp.team_id AND tm.user_id = :user_id)
)
SELECT h.role,
       CASE WHEN CAST(:stack_name AS text) IS NOT NULL THEN
            stack_permission(h.role, 'personal', o.default_stack_permission,
                             (SELECT permission FROM granted))
       END AS stack_permission,
       coalesce(o.members_can_delete_stacks, false) AS members_can_delete_stacks
  FROM held h
  LEFT JOIN org o ON true;

-- name: console_update^
-- One operation of the stack, by id (previews) or by version (real operations), with what its
-- page shows.
SELECT u.id, u.kind, u.dry_run, u.status, u.version, u.message,
       coalesce(u.start_time, u.created_at) AS start_time, u.end_time, u.resource_changes,
       u.resource_count, i.login AS initiator_login
  FROM updates u
  LEFT JOIN users i ON i.id = u.initiator_id
 WHERE u.stack_id = :stack_id
   AND ((CAST(:update_id AS uuid) IS NOT NULL AND u.id = CAST(:update_id AS uuid) AND u.dry_run)
        OR (CAST(:update_id AS uuid) IS NULL AND u.version = :version AND NOT u.dry_run))
 ORDER BY u.created_at DESC
 LIMIT 1;

-- name: stack_previews_at_version
-- The previews run against a version of the stack (a preview is started at the stack's version
-- then), newest first, with what their UpdateInfo shows.
SELECT u.id, u.kind, coalesce(u.start_time, u.created_at) AS start_time, u.message,
       u.environment, u.config, u.status, u.end_time, u.version, u.resource_changes,
       u.resource_count, i.login AS initiator_login, i.name AS initiator_name
  FROM updates u
  LEFT JOIN users i ON i.id = u.initiator_id
 WHERE u.stack_id = :stack_id AND u.dry_run AND u.version = :version
   AND u.status <> 'not started'
 ORDER BY u.created_at DESC
 LIMIT :limit OFFSET :offset;

-- name: count_history$
SELECT count(*) FROM updates
 WHERE stack_id = :stack_id AND NOT dry_run AND version IS NOT NULL;

-- name: recent_previews
-- The stack's latest previews (against any version), newest first, for its history page.
SELECT u.id, u.kind, coalesce(u.start_time, u.created_at) AS start_time, u.status, u.end_time,
       u.version, u.resource_changes, i.login AS initiator_login
  FROM updates u
  LEFT JOIN users i ON i.id = u.initiator_id
 WHERE u.stack_id = :stack_id AND u.dry_run AND u.status <> 'not started'
 ORDER BY u.created_at DESC
 LIMIT :limit;
