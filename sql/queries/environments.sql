-- ESC environments, their revisions, revision tags and open sessions.

-- name: insert_environment^
-- Nothing is returned when the environment exists already (or the organization does not).
INSERT INTO environments (org_id, project, name, key_id, master_key_id, wrapped_key)
SELECT o.id, :project, :name, :key_id, :master_key_id, :wrapped_key
  FROM organizations o WHERE o.name = :org_name
ON CONFLICT (org_id, project, name) DO NOTHING
RETURNING id;

-- name: insert_environment_revision^
-- The next revision of an environment; :etag is computed by the caller from the text.
INSERT INTO environment_revisions (environment_id, number, yaml, etag, creator_id)
SELECT :environment_id, COALESCE(MAX(number), 0) + 1, :yaml, :etag, :creator_id
  FROM environment_revisions WHERE environment_id = :environment_id
RETURNING number, etag;

-- name: touch_environment!
UPDATE environments SET modified_at = now() WHERE id = :environment_id;

-- name: environment^
-- An environment with its data key and latest revision number. :lock takes the row for an
-- edit (two editors of one environment queue, and the second sees the first's revision).
SELECT e.id, e.project, e.name, e.key_id, e.master_key_id, e.wrapped_key, e.tags,
       e.created_at, e.modified_at, e.deletion_protected,
       (SELECT MAX(number) FROM environment_revisions r WHERE r.environment_id = e.id) AS latest
  FROM environments e JOIN organizations o ON o.id = e.org_id
 WHERE o.name = :org_name AND e.project = :project AND e.name = :name;

-- name: lock_environment^
SELECT e.id, e.project, e.name, e.key_id, e.master_key_id, e.wrapped_key, e.deletion_protected,
       (SELECT MAX(number) FROM environment_revisions r WHERE r.environment_id = e.id) AS latest
  FROM environments e JOIN organizations o ON o.id = e.org_id
 WHERE o.name = :org_name AND e.project = :project AND e.name = :name
   FOR UPDATE OF e;

-- name: environment_revision^
SELECT r.number, r.yaml, r.etag, r.created_at, r.retracted_at, r.replacement
  FROM environment_revisions r
 WHERE r.environment_id = :environment_id AND r.number = :number;

-- name: unretracted_revision_before$
-- The latest revision before :number that is not retracted (NULL: none).
SELECT max(number) FROM environment_revisions
 WHERE environment_id = :environment_id AND number < :number AND retracted_at IS NULL;

-- name: retract_environment_revision!
-- Retract a revision; the tags naming it name :replacement from now on.
WITH retracted AS (
    UPDATE environment_revisions
       SET retracted_at = now(), retracted_by = :user_id, retraction_reason = :reason,
           replacement = :replacement
     WHERE environment_id = :environment_id AND number = :number
)
UPDATE environment_revision_tags
   SET revision = :replacement, modified_at = now(), editor_id = :user_id
 WHERE environment_id = :environment_id AND revision = :number;

-- name: environment_revision_tag_number$
SELECT revision FROM environment_revision_tags
 WHERE environment_id = :environment_id AND name = :name;

-- name: list_environments
-- The environments the caller may read (migration 0025's rule, as the authentication
-- statement's) in the organizations they belong to (:org_name NULL: all of them), by
-- (org, project, name), after the continuation key. The caller: a user's token (:user_id), or
-- an organization's or a team's (:token_org_id and, for a team, :token_team_id).
WITH caller_orgs AS (
    SELECT m.org_id, m.role
      FROM memberships m
     WHERE m.user_id = :user_id
    UNION ALL
    SELECT o.id, CASE WHEN :token_kind = 'organization' AND :token_admin THEN 'admin'
                      ELSE 'member' END
      FROM organizations o
     WHERE o.id = :token_org_id AND :token_kind IN ('organization', 'team')
), caller_teams AS (
    SELECT tm.team_id FROM team_members tm WHERE tm.user_id = :user_id
    UNION ALL
    SELECT CAST(:token_team_id AS bigint) WHERE :token_kind = 'team'
)
SELECT o.name AS organization, e.project, e.name, e.created_at, e.modified_at
  FROM environments e
  JOIN organizations o ON o.id = e.org_id
  JOIN caller_orgs co ON co.org_id = o.id
 WHERE (:org_name::text IS NULL OR o.name = :org_name)
   AND (o.name, e.project, e.name) > (:after_org, :after_project, :after_name)
   AND environment_permission(
           co.role, :token_kind, o.default_environment_permission, :viewer_env_cap,
           (SELECT max(tep.permission) FROM team_environment_permissions tep
             WHERE tep.environment_id = e.id
               AND tep.team_id IN (SELECT team_id FROM caller_teams))) >= 1
 ORDER BY o.name, e.project, e.name
 LIMIT :page_size;

-- name: delete_environment!
DELETE FROM environments WHERE id = :environment_id;

-- name: set_environment_settings!
-- NULL leaves a setting as it is.
UPDATE environments
   SET deletion_protected = coalesce(:deletion_protected, deletion_protected)
 WHERE id = :environment_id;

-- name: list_environment_revisions
-- Newest first, with the tags naming each revision (`latest` added by the caller) and, for a
-- retracted one, its retraction.
SELECT r.number, r.created_at, COALESCE(u.login, '') AS creator_login,
       COALESCE(u.name, '') AS creator_name,
       COALESCE(ARRAY(SELECT t.name FROM environment_revision_tags t
                       WHERE t.environment_id = r.environment_id AND t.revision = r.number
                       ORDER BY t.name), '{}') AS tags,
       r.retracted_at, r.replacement, r.retraction_reason,
       COALESCE(ru.login, '') AS retracted_by_login, COALESCE(ru.name, '') AS retracted_by_name
  FROM environment_revisions r LEFT JOIN users u ON u.id = r.creator_id
  LEFT JOIN users ru ON ru.id = r.retracted_by
 WHERE r.environment_id = :environment_id
   AND (:before::integer IS NULL OR r.number < :before)
 ORDER BY r.number DESC
 LIMIT :page_size;

-- name: insert_environment_session!
INSERT INTO environment_sessions (id, org_id, environment_id, master_key_id, sealed, expires_at)
SELECT :id, o.id, :environment_id, :master_key_id, :sealed, now() + make_interval(secs => :seconds)
  FROM organizations o WHERE o.name = :org_name;

-- name: environment_session^
-- A live session of this organization (and environment, or anonymous when :environment_id is
-- NULL); expired ones are as good as absent.
SELECT s.id, s.master_key_id, s.sealed
  FROM environment_sessions s JOIN organizations o ON o.id = s.org_id
 WHERE s.id = :id AND o.name = :org_name AND s.expires_at > now()
   AND s.environment_id IS NOT DISTINCT FROM :environment_id;

-- name: delete_expired_environment_sessions!
DELETE FROM environment_sessions WHERE expires_at <= now();

-- name: set_environment_revision_etag!
UPDATE environment_revisions SET etag = :etag
 WHERE environment_id = :environment_id AND number = :number;

-- name: environment_keys_per_master_key
SELECT master_key_id, count(*) AS environments
  FROM environments
 GROUP BY master_key_id
 ORDER BY master_key_id;

-- name: lock_all_environment_keys
-- Every environment's data key, locked for its re-wrapping by a master key rotation.
SELECT id, key_id, master_key_id, wrapped_key
  FROM environments
 ORDER BY id
   FOR UPDATE;

-- name: rewrap_environment_keys!
UPDATE environments e
   SET master_key_id = :master_key_id, wrapped_key = v.wrapped_key
  FROM unnest(CAST(:ids AS bigint[]), CAST(:wrapped_keys AS bytea[])) AS v (id, wrapped_key)
 WHERE e.id = v.id;

-- name: environment_key_by_key_id^
-- The environment of the organization whose data key a ciphertext names (`env get` sends a
-- stored definition, ciphertexts included, to yaml/check).
SELECT e.project, e.name, e.key_id, e.master_key_id, e.wrapped_key
  FROM environments e JOIN organizations o ON o.id = e.org_id
 WHERE o.name = :org_name AND e.key_id = :key_id;

-- name: list_environment_revision_tags
SELECT t.name, t.revision, t.created_at, t.modified_at,
       COALESCE(u.login, '') AS editor_login, COALESCE(u.name, '') AS editor_name
  FROM environment_revision_tags t LEFT JOIN users u ON u.id = t.editor_id
 WHERE t.environment_id = :environment_id AND t.name > :after
 ORDER BY t.name
 LIMIT :page_size;

-- name: environment_revision_tag^
SELECT t.name, t.revision, t.created_at, t.modified_at,
       COALESCE(u.login, '') AS editor_login, COALESCE(u.name, '') AS editor_name
  FROM environment_revision_tags t LEFT JOIN users u ON u.id = t.editor_id
 WHERE t.environment_id = :environment_id AND t.name = :name;

-- name: insert_environment_revision_tag^
-- Nothing is returned when the tag exists.
INSERT INTO environment_revision_tags (environment_id, name, revision, editor_id)
VALUES (:environment_id, :name, :revision, :editor_id)
ON CONFLICT (environment_id, name) DO NOTHING
RETURNING name;

-- name: update_environment_revision_tag^
UPDATE environment_revision_tags
   SET revision = :revision, editor_id = :editor_id, modified_at = now()
 WHERE environment_id = :environment_id AND name = :name
RETURNING name;

-- name: delete_environment_revision_tag^
DELETE FROM environment_revision_tags
 WHERE environment_id = :environment_id AND name = :name
RETURNING name, revision;

-- name: list_environment_tags
SELECT t.name, t.value, t.created_at, t.modified_at,
       COALESCE(u.login, '') AS editor_login, COALESCE(u.name, '') AS editor_name
  FROM environment_tags t LEFT JOIN users u ON u.id = t.editor_id
 WHERE t.environment_id = :environment_id AND t.name > :after
 ORDER BY t.name
 LIMIT :page_size;

-- name: environment_tag^
SELECT t.name, t.value, t.created_at, t.modified_at,
       COALESCE(u.login, '') AS editor_login, COALESCE(u.name, '') AS editor_name
  FROM environment_tags t LEFT JOIN users u ON u.id = t.editor_id
 WHERE t.environment_id = :environment_id AND t.name = :name;

-- name: insert_environment_tag^
-- Nothing is returned when the tag exists.
INSERT INTO environment_tags (environment_id, name, value, editor_id)
VALUES (:environment_id, :name, :value, :editor_id)
ON CONFLICT (environment_id, name) DO NOTHING
RETURNING name;

-- name: update_environment_tag^
-- Rename and/or change the value of a tag; nothing is returned when it does not exist (a
-- rename onto an existing name fails on the primary key, which the caller checks first).
UPDATE environment_tags
   SET name = :new_name, value = :value, editor_id = :editor_id, modified_at = now()
 WHERE environment_id = :environment_id AND name = :name
RETURNING name;

-- name: delete_environment_tag^
DELETE FROM environment_tags
 WHERE environment_id = :environment_id AND name = :name
RETURNING name;

-- name: clone_environment_revisions!
-- Revisions :sources of :source_id as revisions :numbers of :target_id (their creators and
-- times kept), with the texts :yamls re-sealed under the target's key and their :etags.
-- A retracted revision stays retracted in the copy (with history; then its replacement is
-- copied too).
INSERT INTO environment_revisions (environment_id, number, yaml, etag, creator_id, created_at,
                                   retracted_at, retracted_by, retraction_reason, replacement)
SELECT :target_id, v.number, v.yaml, v.etag, r.creator_id, r.created_at,
       r.retracted_at, r.retracted_by, r.retraction_reason, r.replacement
  FROM environment_revisions r
  JOIN unnest(CAST(:sources AS integer[]), CAST(:numbers AS integer[]),
              CAST(:yamls AS text[]), CAST(:etags AS text[]))
       AS v (source, number, yaml, etag) ON v.source = r.number
 WHERE r.environment_id = :source_id;

-- name: environment_revision_texts
-- The texts of revisions :numbers of an environment (all of them when NULL), oldest first.
SELECT number, yaml FROM environment_revisions
 WHERE environment_id = :environment_id
   AND (CAST(:numbers AS integer[]) IS NULL OR number = ANY(CAST(:numbers AS integer[])))
 ORDER BY number;

-- name: clone_environment_revision_tags!
INSERT INTO environment_revision_tags (environment_id, name, revision, editor_id, created_at,
                                       modified_at)
SELECT :target_id, t.name, t.revision, t.editor_id, t.created_at, t.modified_at
  FROM environment_revision_tags t
 WHERE t.environment_id = :source_id;

-- name: clone_environment_tags!
INSERT INTO environment_tags (environment_id, name, value, editor_id, created_at, modified_at)
SELECT :target_id, t.name, t.value, t.editor_id, t.created_at, t.modified_at
  FROM environment_tags t
 WHERE t.environment_id = :source_id;

-- name: environments_mentioning
-- The latest definition of each environment of the organization whose text mentions one of
-- :names: a cheap filter before their imports are parsed (environments.importers).
SELECT e.project, e.name, r.number, r.yaml
  FROM environments e
  JOIN organizations o ON o.id = e.org_id
  JOIN environment_revisions r ON r.environment_id = e.id
   AND r.number = (SELECT max(number) FROM environment_revisions m
                    WHERE m.environment_id = e.id)
 WHERE o.name = :org_name
   AND EXISTS (SELECT 1 FROM unnest(CAST(:names AS text[])) AS n (name)
                WHERE strpos(r.yaml, n.name) > 0);
