-- 0021: state blobs in S3-compatible object storage (BLOB_STORE_URL). A finished version's state
-- above BLOB_STORE_MIN_BYTES is kept as an object named by the SHA-256 of its compressed bytes;
-- its row keeps the metadata and that key, and no bytes. Exactly one of the two holds the state.
-- Expand only: the previous release keeps working while the blob store is off (every row inline).
ALTER TABLE checkpoints ALTER COLUMN deployment_gz DROP NOT NULL;
ALTER TABLE checkpoints ADD COLUMN blob_key text;
-- NOT VALID: no scan of the existing rows (all inline) under the table lock; new rows are checked.
ALTER TABLE checkpoints ADD CONSTRAINT checkpoints_one_place
    CHECK ((deployment_gz IS NULL) <> (blob_key IS NULL)) NOT VALID;
-- The collector asks whether any row names an object; the migrate command finds rows by place.
CREATE INDEX checkpoints_blob_key ON checkpoints (blob_key) WHERE blob_key IS NOT NULL;
