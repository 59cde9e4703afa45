-- One-time invite links to an organization (app/invites.py).

-- name: insert_invite^
INSERT INTO org_invites (org_id, secret_hash, role, created_by, expires_at)
VALUES (:org_id, :secret_hash, :role, :created_by, now() + make_interval(days => :days))
RETURNING id, role, expires_at;

-- name: open_invites
-- The organization's invites that can still be used, newest first.
SELECT i.id, i.role, i.created_at, i.expires_at, u.login AS created_by_login
  FROM org_invites i
  LEFT JOIN users u ON u.id = i.created_by
 WHERE i.org_id = :org_id AND i.used_at IS NULL AND i.expires_at > now()
 ORDER BY i.created_at DESC, i.id DESC;

-- name: usable_invite^
-- The invite of a secret, if it can still be used (neither used nor expired).
SELECT i.id, i.role, i.expires_at, o.name AS org_name
  FROM org_invites i
  JOIN organizations o ON o.id = i.org_id
 WHERE i.secret_hash = :secret_hash AND i.used_at IS NULL AND i.expires_at > now();

-- name: claim_invite^
-- Mark the invite used, if it still can be: of two people using one link at once, one gets the
-- row (the other waits on its lock and then finds it used).
UPDATE org_invites i
   SET used_at = now()
  FROM organizations o
 WHERE o.id = i.org_id AND i.secret_hash = :secret_hash
   AND i.used_at IS NULL AND i.expires_at > now()
RETURNING i.id, i.role, o.name AS org_name;

-- name: set_invite_user!
UPDATE org_invites SET used_by = :user_id WHERE id = :id;

-- name: revoke_invite$
-- Ends an open invite of the organization now; its id, or NULL when there is none open.
UPDATE org_invites SET expires_at = now()
 WHERE id = :id AND org_id = :org_id AND used_at IS NULL AND expires_at > now()
RETURNING id;
