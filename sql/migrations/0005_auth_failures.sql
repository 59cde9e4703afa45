-- 0005: failed authentications per client address, so that token guessing from one client is
-- slowed down (answered 429) across every worker and host sharing the database.

-- UNLOGGED: these counters need no durability (a crash only forgets who failed recently), and
-- skipping the WAL keeps the one write per failed request cheap.
CREATE UNLOGGED TABLE auth_failures (
    -- The client's address as the service sees it (request.remote_addr).
    client        text PRIMARY KEY,
    -- Failures are counted in a fixed window starting at the first failure.
    window_start  timestamptz NOT NULL,
    failures      integer NOT NULL
);
