-- 0004: an index of the operations in progress, so that counting them for every /metrics scrape
-- reads a handful of index entries instead of the whole update history. (The unique index of
-- 0001 covers only real updates, not previews.)
CREATE INDEX updates_running ON updates (kind) WHERE status = 'running';
