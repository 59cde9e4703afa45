-- OIDC trust configuration (issuers and their auth policies) and the lookups of a token
-- exchange. Issuers are always reached through their organization's name, so that an id from
-- another organization finds nothing.

-- name: create_oidc_issuer^
-- The issuer and its policy document (empty: every exchange denied), in one statement.
WITH issuer AS (
    INSERT INTO oidc_issuers (org_id, name, url, issuer, jwks, thumbprints, max_expiration)
    SELECT o.id, :name, :url, :issuer, CAST(:jwks AS jsonb), CAST(:thumbprints AS text[]),
           :max_expiration
      FROM organizations o
     WHERE o.name = :org_name
    RETURNING *
), policy AS (
    INSERT INTO oidc_auth_policies (issuer_id)
    SELECT id FROM issuer
    RETURNING id
)
SELECT i.*, (SELECT id FROM policy) AS policy_id FROM issuer i;

-- name: oidc_issuers
SELECT i.*
  FROM oidc_issuers i
  JOIN organizations o ON o.id = i.org_id
 WHERE o.name = :org_name
 ORDER BY i.created_at, i.name;

-- name: oidc_issuer^
SELECT i.*
  FROM oidc_issuers i
  JOIN organizations o ON o.id = i.org_id
 WHERE o.name = :org_name
   AND i.id = CAST(:issuer_id AS uuid);

-- name: oidc_issuer_by_iss^
-- The issuer of :org_name whose tokens carry `iss` = :issuer (NULL: none, or no such org).
SELECT i.*, o.name AS org_name
  FROM oidc_issuers i
  JOIN organizations o ON o.id = i.org_id
 WHERE o.name = :org_name
   AND i.issuer = :issuer;

-- name: update_oidc_issuer^
-- The fields given (NULL: unchanged).
UPDATE oidc_issuers i
   SET name = COALESCE(:name, i.name),
       jwks = COALESCE(CAST(:jwks AS jsonb), i.jwks),
       thumbprints = COALESCE(CAST(:thumbprints AS text[]), i.thumbprints),
       max_expiration = COALESCE(CAST(:max_expiration AS integer), i.max_expiration),
       modified_at = now()
  FROM organizations o
 WHERE o.id = i.org_id
   AND o.name = :org_name
   AND i.id = CAST(:issuer_id AS uuid)
RETURNING i.*;

-- name: delete_oidc_issuer$
-- Its policy goes with it; tokens it issued stay valid until they expire or are revoked.
DELETE FROM oidc_issuers i
 USING organizations o
 WHERE o.id = i.org_id
   AND o.name = :org_name
   AND i.id = CAST(:issuer_id AS uuid)
RETURNING i.name;

-- name: touch_oidc_issuer!
UPDATE oidc_issuers SET last_used_at = now() WHERE id = CAST(:issuer_id AS uuid);

-- name: oidc_policy_of_issuer^
SELECT p.*
  FROM oidc_auth_policies p
  JOIN oidc_issuers i ON i.id = p.issuer_id
  JOIN organizations o ON o.id = i.org_id
 WHERE o.name = :org_name
   AND i.id = CAST(:issuer_id AS uuid);

-- name: update_oidc_policy^
-- The new rules replace the old ones; the version counts the changes.
UPDATE oidc_auth_policies p
   SET policies = CAST(:policies AS jsonb),
       version = p.version + 1,
       modified_at = now()
  FROM oidc_issuers i, organizations o
 WHERE i.id = p.issuer_id
   AND o.id = i.org_id
   AND o.name = :org_name
   AND p.id = CAST(:policy_id AS uuid)
RETURNING p.*, i.name AS issuer_name;

-- name: org_member_by_login^
-- A member of :org_name (any role) by login, for a personal token an exchange issues.
SELECT u.id, u.login, m.role
  FROM users u
  JOIN memberships m ON m.user_id = u.id
  JOIN organizations o ON o.id = m.org_id
 WHERE o.name = :org_name
   AND u.login = :login;

-- name: set_token_origin!
-- The ID token a token was exchanged for: its issuer and subject.
UPDATE access_tokens
   SET oidc_issuer = :oidc_issuer, oidc_subject = :oidc_subject
 WHERE id = :token_id;
