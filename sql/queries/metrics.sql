-- Figures read when Prometheus scrapes /metrics.

-- name: running_updates_by_kind
-- Operations in progress (previews included), by kind; served by the updates_running index.
SELECT kind, count(*) AS running
  FROM updates
 WHERE status = 'running'
 GROUP BY kind;
