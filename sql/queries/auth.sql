-- Authentication: each request's credentials resolved in one statement (one round trip, its own
-- transaction), together with the failed-authentication block of the client (auth_failures.sql)
-- and, for API tokens, the caller's role in the organization of the URL. Nothing is cached
-- between requests: a revoked token or a removed membership counts from the next request.

-- name: authenticate_token^
-- One row always. retry_after: seconds the client must wait (it reached :failure_limit failed
-- authentications in its window; 0 turns the check off), and then nothing else is looked up.
-- Otherwise the user behind the token (NULL id: unknown, revoked or expired), their role in :org_name
-- (a user is admin of the organization named after them; NULL: no membership, or no :org_name),
-- and last_used_at written at most once per :touch_seconds per token, in this same statement.
WITH blocked AS (
    SELECT CAST(ceil(extract(epoch FROM window_start + make_interval(secs => :window_seconds)
                                        - now())) AS integer) AS retry_after
      FROM auth_failures
     WHERE :failure_limit > 0
       AND client = :client
       AND failures >= :failure_limit
       AND window_start > now() - make_interval(secs => :window_seconds)
), caller AS (
    SELECT u.id, u.login, u.name, u.email, t.id AS token_id
      FROM access_tokens t
      JOIN users u ON u.id = t.user_id
     WHERE t.token_hash = :token_hash
       AND t.revoked_at IS NULL
       -- An expired token fails from its first request after the instant: no sweeper needed.
       AND (t.expires_at IS NULL OR t.expires_at > now())
       AND NOT EXISTS (SELECT 1 FROM blocked)
), touched AS (
    UPDATE access_tokens t
       SET last_used_at = now()
      FROM caller c
     WHERE t.id = c.token_id
       -- On the row itself, so that a request that waited for another's touch skips its own.
       AND (t.last_used_at IS NULL
            OR t.last_used_at < now() - make_interval(secs => :touch_seconds))
)
SELECT (SELECT retry_after FROM blocked) AS retry_after,
       c.id, c.login, c.name, c.email, c.token_id,
       CASE WHEN c.id IS NULL OR CAST(:org_name AS text) IS NULL THEN NULL
            WHEN c.login = :org_name THEN 'admin'
            ELSE (SELECT m.role
                    FROM organizations o
                    JOIN memberships m ON m.org_id = o.id AND m.user_id = c.id
                   WHERE o.name = :org_name)
       END AS role
  FROM (SELECT 1) AS one
  LEFT JOIN caller c ON true;

-- name: authenticate_lease^
-- One row always: retry_after as above, then the update holding the lease token (NULL id: no
-- such lease) with the stack it belongs to and whether the lease has expired.
WITH blocked AS (
    SELECT CAST(ceil(extract(epoch FROM window_start + make_interval(secs => :window_seconds)
                                        - now())) AS integer) AS retry_after
      FROM auth_failures
     WHERE :failure_limit > 0
       AND client = :client
       AND failures >= :failure_limit
       AND window_start > now() - make_interval(secs => :window_seconds)
), lease AS (
    SELECT u.id, u.stack_id, u.kind, u.dry_run, u.status, u.version, u.initiator_id,
           u.journal_version, iu.login AS initiator_login,
           u.lease_expires_at < now() AS expired,
           o.name AS org_name, p.name AS project_name, s.name AS stack_name
      FROM updates u
      JOIN stacks s ON s.id = u.stack_id
      JOIN projects p ON p.id = s.project_id
      JOIN organizations o ON o.id = p.org_id
      LEFT JOIN users iu ON iu.id = u.initiator_id
     WHERE u.lease_token_hash = :lease_token_hash
       AND NOT EXISTS (SELECT 1 FROM blocked)
)
SELECT (SELECT retry_after FROM blocked) AS retry_after, l.*
  FROM (SELECT 1) AS one
  LEFT JOIN lease l ON true;
