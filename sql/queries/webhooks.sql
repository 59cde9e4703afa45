-- Webhooks: hooks of an organization, a stack or an ESC environment, the outbox of their events
-- and every delivery attempt (migrations 0015, 0029). Hook columns are read as one list (HOOK below, repeated: aiosql has
-- no fragments).

-- name: insert_webhook^
INSERT INTO webhooks (org_id, stack_id, environment_id, name, display_name, payload_url, active,
                      format, filters, groups, secret_sealed, secret_master_key_id)
VALUES (:org_id, :stack_id, :environment_id, :name, :display_name, :payload_url, :active,
        :format, :filters, :groups, :secret_sealed, :secret_master_key_id)
ON CONFLICT (name) DO NOTHING
RETURNING id;

-- name: org_webhooks
SELECT w.id, w.name, w.display_name, w.payload_url, w.active, w.format, w.filters, w.groups,
       w.secret_sealed IS NOT NULL AS has_secret, w.secret_sealed, o.name AS org_name,
       NULL AS project_name, NULL AS stack_name, NULL AS env_name
  FROM webhooks w
  JOIN organizations o ON o.id = w.org_id
 WHERE o.name = :org_name AND w.stack_id IS NULL AND w.environment_id IS NULL
 ORDER BY w.id;

-- name: stack_webhooks
SELECT w.id, w.name, w.display_name, w.payload_url, w.active, w.format, w.filters, w.groups,
       w.secret_sealed IS NOT NULL AS has_secret, w.secret_sealed, o.name AS org_name,
       p.name AS project_name, s.name AS stack_name, NULL AS env_name
  FROM webhooks w
  JOIN stacks s ON s.id = w.stack_id
  JOIN projects p ON p.id = s.project_id
  JOIN organizations o ON o.id = p.org_id
 WHERE w.stack_id = :stack_id
 ORDER BY w.id;

-- name: environment_webhooks
SELECT w.id, w.name, w.display_name, w.payload_url, w.active, w.format, w.filters, w.groups,
       w.secret_sealed IS NOT NULL AS has_secret, w.secret_sealed, o.name AS org_name,
       e.project AS project_name, NULL AS stack_name, e.name AS env_name
  FROM webhooks w
  JOIN environments e ON e.id = w.environment_id
  JOIN organizations o ON o.id = e.org_id
 WHERE w.environment_id = :environment_id
 ORDER BY w.id;

-- name: lock_webhook^
-- One hook of the organization (stack_id and environment_id NULL), of the stack or of the
-- environment, locked for a change.
SELECT w.id, w.name, w.display_name, w.payload_url, w.active, w.format, w.filters, w.groups,
       w.secret_sealed IS NOT NULL AS has_secret, w.secret_sealed, w.secret_master_key_id,
       o.name AS org_name, COALESCE(p.name, e.project) AS project_name, s.name AS stack_name,
       e.name AS env_name
  FROM webhooks w
  JOIN organizations o ON o.id = w.org_id
  LEFT JOIN stacks s ON s.id = w.stack_id
  LEFT JOIN projects p ON p.id = s.project_id
  LEFT JOIN environments e ON e.id = w.environment_id
 WHERE o.name = :org_name AND w.name = :name
   AND w.stack_id IS NOT DISTINCT FROM :stack_id
   AND w.environment_id IS NOT DISTINCT FROM :environment_id
   FOR UPDATE OF w;

-- name: update_webhook!
UPDATE webhooks
   SET display_name = :display_name, payload_url = :payload_url, active = :active,
       format = :format, filters = :filters, groups = :groups,
       secret_sealed = :secret_sealed, secret_master_key_id = :secret_master_key_id,
       updated_at = now()
 WHERE id = :id;

-- name: delete_webhook!
DELETE FROM webhooks WHERE id = :id;

-- name: enqueue_webhook_events^
-- The event for every active hook that wants it: the organization's hooks, and with a stack
-- (an environment) the stack's (the environment's) hooks too (org_hooks_only: events only
-- organization hooks get). A hook wants an event when it has neither filters nor groups, or
-- names the event or its group. The NOTIFY is delivered on commit only, and wakes the workers.
WITH queued AS (
    INSERT INTO webhook_events (id, webhook_id, kind, event, payload)
    SELECT gen_random_uuid(), w.id, :kind, :event, :payload
      FROM webhooks w
     WHERE w.org_id = :org_id
       AND w.active
       AND (w.stack_id IS NULL AND w.environment_id IS NULL
            OR NOT :org_hooks_only AND (w.stack_id = :stack_id
                                        OR w.environment_id = :environment_id))
       AND (cardinality(w.filters) = 0 AND cardinality(w.groups) = 0
            OR :event = ANY (w.filters) OR :event_group = ANY (w.groups))
    RETURNING webhook_id
)
SELECT count(*) AS queued FROM queued;

-- name: notify_webhook_workers!
-- Wakes the delivery workers (LISTEN webhook_events); PostgreSQL delivers it on commit only.
SELECT pg_notify('webhook_events', '');

-- name: insert_sent_event^
-- An event sent at once (ping), or copied for a redeliver: recorded as delivered or not by the
-- caller.
INSERT INTO webhook_events (id, webhook_id, kind, event, payload, state, attempts)
VALUES (gen_random_uuid(), :webhook_id, :kind, :event, :payload, 'delivered', 0)
RETURNING id;

-- name: claim_due_event^
-- The next due event no other worker holds, locked until the caller's transaction ends, with
-- its hook (NULL when none is due).
SELECT e.id, e.webhook_id, e.kind, e.event, e.payload, e.attempts, e.created_at,
       w.payload_url, w.format, w.secret_sealed, w.secret_master_key_id, w.name, w.active
  FROM webhook_events e
  JOIN webhooks w ON w.id = e.webhook_id
 WHERE e.state = 'pending' AND e.next_attempt_at <= now()
 ORDER BY e.next_attempt_at
 LIMIT 1
   FOR UPDATE OF e SKIP LOCKED;

-- name: next_due_in^
-- Seconds until the next pending event is due (NULL: none pending).
SELECT extract(epoch FROM min(next_attempt_at) - now()) AS seconds
  FROM webhook_events WHERE state = 'pending';

-- name: event_of_webhook^
SELECT e.id, e.webhook_id, e.kind, e.event, e.payload, e.attempts, e.state
  FROM webhook_events e
 WHERE e.id = CAST(:event_id AS uuid) AND e.webhook_id = :webhook_id
   FOR UPDATE OF e;

-- name: finish_event_attempt!
-- After an attempt: delivered, failed for good, or pending again at next_attempt_at.
UPDATE webhook_events
   SET state = :state, attempts = attempts + 1,
       next_attempt_at = now() + make_interval(secs => :retry_in)
 WHERE id = :id;

-- name: defer_webhook_events!
-- A hook's attempt failed: its other due events wait as long as the failed one (a receiver that
-- is down or hangs takes no more sends, and no sender threads, until its backoff is over).
UPDATE webhook_events
   SET next_attempt_at = greatest(next_attempt_at, now() + make_interval(secs => :retry_in))
 WHERE webhook_id = :webhook_id AND state = 'pending' AND id <> :event_id;

-- name: insert_delivery^
INSERT INTO webhook_deliveries (event_id, webhook_id, attempt, duration_ms, request_url,
                                request_headers, payload, response_code, response_headers,
                                response_body, error)
VALUES (:event_id, :webhook_id, :attempt, :duration_ms, :request_url, :request_headers,
        :payload, :response_code, :response_headers, :response_body, :error)
RETURNING id, at;

-- name: webhook_deliveries
-- A hook's attempts, newest first.
SELECT d.event_id, e.kind, d.payload, d.at, d.duration_ms, d.request_url, d.request_headers,
       d.response_code, d.response_headers, d.response_body, d.error
  FROM webhook_deliveries d
  JOIN webhook_events e ON e.id = d.event_id
 WHERE d.webhook_id = :webhook_id
 ORDER BY d.id DESC
 LIMIT :limit;

-- name: webhook_event_context^
-- Who and where, for an event's payload: the organization, the acting user and (with a stack
-- id) the stack's names.
SELECT o.id AS org_id, o.name AS org_name, u.login, u.name AS user_name,
       p.name AS project_name, s.name AS stack_name
  FROM organizations o
  LEFT JOIN users u ON u.login = :login
  LEFT JOIN stacks s ON s.id = :stack_id
  LEFT JOIN projects p ON p.id = s.project_id
 WHERE o.name = :org_name;

-- name: environment_event_context^
-- Who and where, for an environment's event: the organization, the acting user and the
-- environment's id (NULL once it is deleted).
SELECT o.id AS org_id, o.name AS org_name, u.login, u.name AS user_name, e.id AS environment_id
  FROM organizations o
  LEFT JOIN users u ON u.login = :login
  LEFT JOIN environments e ON e.org_id = o.id AND e.project = :project AND e.name = :name
 WHERE o.name = :org_name;

-- name: finished_update_of_webhooks^
-- A finished update, as its stack_update/stack_preview event describes it.
SELECT u.id, u.kind, u.dry_run, u.status, u.version, u.resource_changes, u.stack_id,
       iu.login AS initiator_login, o.name AS org_name, p.name AS project_name,
       s.name AS stack_name
  FROM updates u
  JOIN stacks s ON s.id = u.stack_id
  JOIN projects p ON p.id = s.project_id
  JOIN organizations o ON o.id = p.org_id
  LEFT JOIN users iu ON iu.id = u.initiator_id
 WHERE u.id = CAST(:update_id AS uuid);

-- name: lock_webhook_secrets
-- Every sealed webhook secret, locked for a master key rotation.
SELECT id, name, secret_sealed, secret_master_key_id
  FROM webhooks WHERE secret_sealed IS NOT NULL
   FOR UPDATE;

-- name: reseal_webhook_secret!
UPDATE webhooks SET secret_sealed = :sealed, secret_master_key_id = :master_key_id WHERE id = :id;
