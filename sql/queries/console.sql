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

-- name: role_in_org$
-- The user's role in the organization (admin of the one named after them); NULL: none.
SELECT CASE WHEN u.login = :org_name THEN 'admin'
            ELSE (SELECT m.role FROM organizations o
                    JOIN memberships m ON m.org_id = o.id AND m.user_id = u.id
                   WHERE o.name = :org_name)
       END
  FROM users u WHERE u.id = :user_id;

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
