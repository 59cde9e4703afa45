-- 0003: service-managed secrets. Each stack's data key, wrapped by a master key the service gets
-- from its environment, and a canary recording which master key the database is set up with.
-- Values themselves are never stored: the CLI keeps the ciphertexts.

CREATE TABLE stack_secret_keys (
    -- One data key per stack, deleted with it: a stack re-created under the same name gets a new
    -- key and cannot decrypt its predecessor's values. Keyed by the stack's row id, not its name,
    -- so that a rename keeps decrypting.
    stack_id      bigint PRIMARY KEY REFERENCES stacks (id) ON DELETE CASCADE,
    -- Random, and bound into every value as associated data together with stack_id (row ids can
    -- repeat, e.g. after a restore or a sequence reset; this cannot).
    key_id        bytea NOT NULL UNIQUE CHECK (length(key_id) = 16),
    -- Which master key wrapped it (a hash of the key, see app/secrets.py master_key_id), so that
    -- servers can hold the old and the new key during a rotation.
    master_key_id text NOT NULL,
    -- nonce || AES-256-GCM(data key), associated data = stack_id and key_id.
    wrapped_key   bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    rewrapped_at  timestamptz
);
CREATE INDEX stack_secret_keys_master_key ON stack_secret_keys (master_key_id);

CREATE TABLE secrets_canary (
    -- A single row.
    id            smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    -- The master key the database uses now: new data keys are wrapped with it, and a server
    -- that holds neither it nor a key opening `sealed` refuses to start.
    master_key_id text NOT NULL,
    -- nonce || AES-256-GCM(a known text).
    sealed        bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    rotated_at    timestamptz
);
