-- The audit log: appending to an organization's hash chain, reading it back, verifying and
-- pruning it (app/audit.py).

-- name: lock_chain_head^
-- The chain's last record (seq 0 and the genesis hash for a new chain), its row locked until the
-- transaction ends so that appends to one chain take turns; and the time of the next record,
-- read while holding the lock so that times follow the chain. DO UPDATE (a no-op change) rather
-- than DO NOTHING: it locks an existing row and returns it in the same statement.
INSERT INTO audit_chain_heads AS h (org_name, seq, hash)
VALUES (:org_name, 0, :genesis)
ON CONFLICT (org_name) DO UPDATE SET seq = h.seq
RETURNING seq, hash, clock_timestamp() AS at;

-- name: append_record!
-- The next record of a chain whose head this transaction has locked, and the head moved onto it.
WITH record AS (
    INSERT INTO audit_log (org_name, seq, at, event, actor_login, actor_name, token_id,
                           source_ip, user_agent, target, description, cut_before_seq,
                           cut_anchor, prev_hash, hash)
    VALUES (:org_name, :seq, :at, :event, :actor_login, :actor_name, :token_id, :source_ip,
            :user_agent, :target, :description, :cut_before_seq, :cut_anchor, :prev_hash, :hash)
)
UPDATE audit_chain_heads SET seq = :seq, hash = :hash WHERE org_name = :org_name;

-- name: list_records
-- A page of an organization's records, newest first, filtered; `before_seq` continues a page.
SELECT seq, at, event, actor_login, actor_name, token_id, source_ip, user_agent, target,
       description
  FROM audit_log
 WHERE org_name = :org_name
   AND seq < :before_seq
   AND (CAST(:event AS text) IS NULL OR event = :event)
   AND (CAST(:login AS text) IS NULL OR actor_login = :login)
   AND (CAST(:start_time AS bigint) IS NULL OR at >= to_timestamp(:start_time))
   AND (CAST(:end_time AS bigint) IS NULL OR at < to_timestamp(:end_time + 1))
 ORDER BY seq DESC
 LIMIT :page_size;

-- name: chain_records
-- Every record of a chain in chain order, with all that its hash covers.
SELECT id, org_name, seq, at, event, actor_login, actor_name, token_id, source_ip, user_agent,
       target, description, cut_before_seq, cut_anchor, prev_hash, hash
  FROM audit_log
 WHERE org_name = :org_name
 ORDER BY seq;

-- name: chain_heads
-- Every chain (also one whose head row is missing), with its head, in name order.
SELECT coalesce(h.org_name, r.org_name) AS org_name, h.seq, h.hash
  FROM audit_chain_heads h
  FULL JOIN (SELECT DISTINCT org_name FROM audit_log) r ON r.org_name = h.org_name
 WHERE CAST(:org_name AS text) IS NULL OR coalesce(h.org_name, r.org_name) = :org_name
 ORDER BY 1;

-- name: first_seq_from$
-- The first record of a chain at or after a time (where a cut before that time falls).
SELECT min(seq) FROM audit_log WHERE org_name = :org_name AND at >= :before;

-- name: first_seq$
SELECT min(seq) FROM audit_log WHERE org_name = :org_name;

-- name: record_at_seq^
SELECT seq, hash FROM audit_log WHERE org_name = :org_name AND seq = :seq;

-- name: delete_below_cut!
-- Allowed by the immutability trigger only below a cut recorded in the same chain.
DELETE FROM audit_log WHERE org_name = :org_name AND seq < :cut_before_seq;

-- name: auth_failures_of_client^
-- A client's failed authentications in its current window (app/auth.py counts them).
SELECT failures, window_start FROM auth_failures WHERE client = :client;

-- name: burst_recorded$
-- Whether a burst of failed authentications from this client was recorded in this window.
SELECT EXISTS (
    SELECT 1 FROM audit_log
     WHERE event = 'auth.failure_burst' AND source_ip = :client AND at >= :window_start
);
