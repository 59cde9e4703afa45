-- Engine events of an update, as the CLI sent them, one row per sequence number.

-- name: insert_engine_events!
-- A batch, given as the request's JSON text. Batches arrive out of order and retries repeat them:
-- a sequence number already stored is skipped.
INSERT INTO engine_events (update_id, sequence, type, urn, event)
SELECT CAST(:update_id AS uuid),
       CAST(e ->> 'sequence' AS integer),
       coalesce((SELECT k FROM jsonb_object_keys(e) AS k
                  WHERE k NOT IN ('sequence', 'timestamp') LIMIT 1), ''),
       coalesce(e #>> '{resourcePreEvent,metadata,urn}',
                e #>> '{resOutputsEvent,metadata,urn}',
                e #>> '{resOpFailedEvent,metadata,urn}',
                e #>> '{diagnosticEvent,urn}',
                e #>> '{policyEvent,resourceUrn}'),
       e
  FROM jsonb_array_elements(CAST(:batch AS jsonb) -> 'events') AS e
ON CONFLICT (update_id, sequence) DO NOTHING;

-- name: contiguous_events_end$
-- The highest sequence number up to which every event has arrived (-1 if event 0 has not): a
-- reader of a running update is not handed events past a gap that a late batch will fill.
SELECT coalesce(min(position) - 1, (SELECT max(sequence) FROM engine_events
                                     WHERE update_id = CAST(:update_id AS uuid)), -1)
  FROM (SELECT sequence, row_number() OVER (ORDER BY sequence) - 1 AS position
          FROM engine_events
         WHERE update_id = CAST(:update_id AS uuid)) AS numbered
 WHERE sequence <> position;

-- name: engine_events
-- One page of events after a sequence number, filtered by payload type and resource URN.
SELECT sequence, event
  FROM engine_events
 WHERE update_id = CAST(:update_id AS uuid)
   AND sequence > :after AND sequence <= :until
   AND (CAST(:types AS text[]) IS NULL OR type = ANY (CAST(:types AS text[])))
   AND (CAST(:urn AS text) IS NULL OR urn = :urn)
 ORDER BY sequence
 LIMIT :limit;

-- name: unfinished_steps
-- The resource steps of an update that began (resourcePreEvent) and never finished or failed:
-- the operations that were in flight when it stopped.
SELECT e.event
  FROM engine_events e
 WHERE e.update_id = CAST(:update_id AS uuid)
   AND e.type = 'resourcePreEvent'
   AND NOT EXISTS (
       SELECT 1 FROM engine_events d
        WHERE d.update_id = e.update_id AND d.urn = e.urn AND d.sequence > e.sequence
          AND d.type IN ('resOutputsEvent', 'resOpFailedEvent'))
 ORDER BY e.sequence;
