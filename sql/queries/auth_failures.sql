-- Failed authentications per client (see app/auth.py): one upsert per failure; the primary-key
-- lookup of every request with credentials is part of its authentication statement (auth.sql).

-- name: auth_retry_after$
-- Seconds until a client that reached the limit in its current window may try again; nothing
-- when it has not. For requests whose credentials are missing or malformed (the others check
-- this in their authentication statement).
SELECT CAST(ceil(extract(epoch FROM window_start + make_interval(secs => :window_seconds) - now()))
            AS integer)
  FROM auth_failures
 WHERE client = :client
   AND failures >= :failure_limit
   AND window_start > now() - make_interval(secs => :window_seconds);

-- name: record_auth_failure$
-- Count one failure in the client's window (a new window once the last one is over), and drop
-- other clients' finished windows on the way so that the table stays small. Returns the count.
WITH finished AS (
    DELETE FROM auth_failures
     WHERE window_start <= now() - make_interval(secs => :window_seconds)
       AND client <> :client
)
INSERT INTO auth_failures AS f (client, window_start, failures)
VALUES (:client, now(), 1)
ON CONFLICT (client) DO UPDATE
   SET failures = CASE WHEN f.window_start <= now() - make_interval(secs => :window_seconds)
                       THEN 1 ELSE f.failures + 1 END,
       window_start = CASE WHEN f.window_start <= now() - make_interval(secs => :window_seconds)
                           THEN now() ELSE f.window_start END
RETURNING failures;
