-- Organizations as the API shows them: settings, counts, the caller's default, and members.

-- name: org_metadata^
-- An organization with its settings and the counts its metadata reports.
SELECT o.id, o.name, o.created_at, o.personal_user_id,
       o.default_stack_permission, o.members_can_create_stacks, o.members_can_delete_stacks,
       o.default_environment_permission,
       (SELECT count(*) FROM environments e WHERE e.org_id = o.id) AS environment_count,
       (SELECT count(*) FROM memberships m WHERE m.org_id = o.id) AS member_count,
       (SELECT count(*) FROM stacks s JOIN projects p ON p.id = s.project_id
         WHERE p.org_id = o.id AND s.deleted_at IS NULL) AS stack_count
  FROM organizations o
 WHERE o.name = :org_name;

-- name: lock_org^
-- The organization row locked for a change to its settings or members, so that two admins
-- demoting each other at once cannot leave it without one.
SELECT id, name, created_at, personal_user_id
  FROM organizations
 WHERE name = :org_name
   FOR UPDATE;

-- name: update_org_settings!
-- NULL leaves a setting as it is.
UPDATE organizations
   SET default_stack_permission  = coalesce(:default_stack_permission, default_stack_permission),
       default_environment_permission = coalesce(:default_environment_permission,
                                                 default_environment_permission),
       members_can_create_stacks = coalesce(:members_can_create_stacks, members_can_create_stacks),
       members_can_delete_stacks = coalesce(:members_can_delete_stacks, members_can_delete_stacks)
 WHERE id = :org_id;

-- name: default_org_of_user$
-- The user's chosen default organization while they still belong to it; NULL otherwise.
SELECT o.name
  FROM users u
  JOIN organizations o ON o.id = u.default_org_id
  JOIN memberships m ON m.org_id = o.id AND m.user_id = u.id
 WHERE u.id = :user_id;

-- name: set_default_org!
UPDATE users SET default_org_id = :org_id WHERE id = :user_id;

-- name: org_members
-- One page of an organization's members, in login order after :after_login.
SELECT u.login, u.name, u.email, m.role, m.created_at
  FROM memberships m
  JOIN users u ON u.id = m.user_id
 WHERE m.org_id = :org_id
   AND u.login > :after_login
 ORDER BY u.login
 LIMIT :page_size;

-- name: org_member^
SELECT u.id AS user_id, u.login, u.name, u.email, m.role, m.created_at
  FROM memberships m
  JOIN users u ON u.id = m.user_id
 WHERE m.org_id = :org_id
   AND u.login = :login;

-- name: count_org_admins$
SELECT count(*) FROM memberships WHERE org_id = :org_id AND role = 'admin';

-- name: add_org_member^
-- A new membership; nothing (NULL) when the user is already a member.
INSERT INTO memberships (org_id, user_id, role)
VALUES (:org_id, :user_id, :role)
ON CONFLICT (org_id, user_id) DO NOTHING
RETURNING created_at;

-- name: change_member_role!
UPDATE memberships SET role = :role WHERE org_id = :org_id AND user_id = :user_id;
