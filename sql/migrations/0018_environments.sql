-- 0018: ESC environments. An environment is named (organization, project, name); its definition
-- (YAML) is kept as immutable revisions numbered from 1, the last one being `latest`. Secret
-- values (`fn::secret`) are stored as ciphertext inside the YAML text, sealed with the
-- environment's own data key, wrapped by the service's master key as stacks' keys are (0003).

CREATE TABLE environments (
    id            bigserial PRIMARY KEY,
    org_id        bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    project       text NOT NULL,
    name          text NOT NULL,
    -- The data key: random id bound into every ciphertext, the master key that wraps it, and
    -- nonce || AES-256-GCM(data key). Made at creation, so a revision never lacks its key.
    key_id        bytea NOT NULL UNIQUE CHECK (length(key_id) = 16),
    master_key_id text NOT NULL,
    wrapped_key   bytea NOT NULL,
    -- Environment tags (small: a JSON object of strings).
    tags          jsonb NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    modified_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, project, name)
);

CREATE TABLE environment_revisions (
    environment_id bigint NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    number         integer NOT NULL CHECK (number >= 1),
    -- As stored: secrets already sealed, so that `env get` shows ciphertext.
    yaml           text NOT NULL,
    -- The ETag of this revision: If-Match of an edit must name the latest one's.
    etag           text NOT NULL,
    creator_id     bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (environment_id, number)
);

-- Named revisions other than `latest`, which is always the newest revision (never stored, so
-- it cannot lag behind an edit).
CREATE TABLE environment_revision_tags (
    environment_id bigint NOT NULL,
    name           text NOT NULL CHECK (name <> 'latest'),
    revision       integer NOT NULL,
    editor_id      bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    modified_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (environment_id, name),
    FOREIGN KEY (environment_id, revision)
        REFERENCES environment_revisions (environment_id, number) ON DELETE CASCADE
);

-- Open sessions: the evaluated environment, kept until it expires. Secrets inside are sealed
-- with the environment's (or, for anonymous documents, the organization's) session key, never
-- stored in plain text.
CREATE TABLE environment_sessions (
    id            text PRIMARY KEY,
    org_id        bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    -- NULL for an anonymous document (yaml/open).
    environment_id bigint REFERENCES environments (id) ON DELETE CASCADE,
    master_key_id text NOT NULL,
    -- nonce || AES-256-GCM(the evaluated environment as JSON), associated data = the id.
    sealed        bytea NOT NULL,
    expires_at    timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX environment_sessions_expiry ON environment_sessions (expires_at);
