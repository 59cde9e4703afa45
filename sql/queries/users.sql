-- Users, organizations, memberships and access tokens.

-- name: orgs_of_user
-- Organizations the user belongs to, their personal one included (Pulumi Cloud lists it too:
-- `pulumi whoami -v` shows the user's login among the organizations).
SELECT o.name, m.role
  FROM memberships m
  JOIN organizations o ON o.id = m.org_id
 WHERE m.user_id = :user_id
 ORDER BY o.name;

-- name: user_by_login^
SELECT id, login, name, email FROM users WHERE login = :login;

-- name: org_by_name^
SELECT id, name, personal_user_id FROM organizations WHERE name = :name;

-- name: create_user^
-- A user and their personal organization, of which they are admin, in one statement.
WITH new_user AS (
    INSERT INTO users (login, name, email) VALUES (:login, :name, :email)
    RETURNING id, login, name, email
), personal AS (
    INSERT INTO organizations (name, personal_user_id)
    SELECT login, id FROM new_user
    RETURNING id, personal_user_id
), admin AS (
    INSERT INTO memberships (org_id, user_id, role)
    SELECT id, personal_user_id, 'admin' FROM personal
)
SELECT id, login, name, email FROM new_user;

-- name: create_org^
INSERT INTO organizations (name) VALUES (:name)
ON CONFLICT (name) DO NOTHING
RETURNING id, name;

-- name: set_membership!
INSERT INTO memberships (org_id, user_id, role)
VALUES (:org_id, :user_id, :role)
ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role;

-- name: remove_membership!
DELETE FROM memberships WHERE org_id = :org_id AND user_id = :user_id;

-- name: create_token^
INSERT INTO access_tokens (user_id, token_hash, description)
VALUES (:user_id, :token_hash, :description)
RETURNING id, created_at;

-- name: revoke_token^
-- Revoke by the token itself (its hash) or by its id; the token revoked and its owner, if any.
UPDATE access_tokens
   SET revoked_at = now()
 WHERE revoked_at IS NULL
   AND (token_hash = :token_hash OR id = :token_id)
RETURNING id, description, (SELECT login FROM users u WHERE u.id = user_id) AS login;

-- name: tokens_of_user
SELECT id, description, created_at, last_used_at, revoked_at, expires_at
  FROM access_tokens
 WHERE user_id = :user_id
 ORDER BY id;

-- name: count_users$
SELECT count(*) FROM users;
