-- Access tokens over the API: personal, organization and team tokens. Only SHA-256 hashes are
-- stored; a deleted token is kept, revoked, so that what it did stays attributable.

-- name: create_personal_token^
INSERT INTO access_tokens (user_id, token_hash, description, expires_at, kind, created_by)
VALUES (:user_id, :token_hash, :description, :expires_at, 'personal', :user_id)
RETURNING id, created_at;

-- name: insert_token^
-- A token of any kind (app/tokens.py create_token checks the owner columns the kind needs).
-- Nothing is returned when an organization or team token of that name exists already.
INSERT INTO access_tokens (kind, user_id, org_id, team_id, name, description, token_hash,
                           expires_at, created_by, admin)
VALUES (:kind, :user_id, :org_id, :team_id, :name, :description, :token_hash,
        :expires_at, :created_by, :admin)
ON CONFLICT DO NOTHING
RETURNING id, created_at;

-- name: org_tokens
-- An organization's tokens (or, with :team_id, a team's) that were not deleted, expired ones
-- included.
SELECT t.id, t.name, t.description, t.created_at, t.last_used_at, t.expires_at, t.admin,
       t.kind, u.login AS created_by
  FROM access_tokens t
  LEFT JOIN users u ON u.id = t.created_by
 WHERE t.org_id = :org_id
   AND t.revoked_at IS NULL
   AND ((CAST(:team_id AS bigint) IS NULL AND t.kind = 'organization')
        OR (t.kind = 'team' AND t.team_id = :team_id))
 ORDER BY t.id;

-- name: revoke_org_token$
-- The id of the organization (or, with :team_id, team) token revoked; NULL when there is no such
-- live token.
UPDATE access_tokens
   SET revoked_at = now()
 WHERE id = :token_id
   AND org_id = :org_id
   AND revoked_at IS NULL
   AND ((CAST(:team_id AS bigint) IS NULL AND kind = 'organization')
        OR (kind = 'team' AND team_id = :team_id))
RETURNING id;

-- name: revoke_team_tokens!
-- A deleted team's tokens stop working with it.
UPDATE access_tokens SET revoked_at = now()
 WHERE team_id = :team_id AND revoked_at IS NULL;

-- name: personal_tokens
-- The user's personal tokens that were not deleted, expired ones included (shown as such).
SELECT t.id, t.name, t.description, t.created_at, t.last_used_at, t.expires_at,
       u.login AS created_by
  FROM access_tokens t
  LEFT JOIN users u ON u.id = t.created_by
 WHERE t.user_id = :user_id
   AND t.kind = 'personal'
   AND t.revoked_at IS NULL
 ORDER BY t.id;

-- name: revoke_personal_token$
-- The id of the token revoked; NULL when the user has no such live token.
UPDATE access_tokens
   SET revoked_at = now()
 WHERE id = :token_id
   AND user_id = :user_id
   AND kind = 'personal'
   AND revoked_at IS NULL
RETURNING id;
