-- Access tokens over the API (personal ones so far). Only SHA-256 hashes are stored; a deleted
-- token is kept, revoked, so that what it did stays attributable.

-- name: create_personal_token^
INSERT INTO access_tokens (user_id, token_hash, description, expires_at, kind, created_by)
VALUES (:user_id, :token_hash, :description, :expires_at, 'personal', :user_id)
RETURNING id, created_at;

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
