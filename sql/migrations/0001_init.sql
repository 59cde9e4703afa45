-- 0001: users, organizations, tokens, projects, stacks, updates, checkpoints and engine events.

CREATE TABLE users (
    id          bigserial PRIMARY KEY,
    -- The login doubles as the name of the user's personal organization (the CLI's default org).
    login       text NOT NULL UNIQUE,
    name        text NOT NULL DEFAULT '',
    email       text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE organizations (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    -- Set for a user's personal organization, which goes away with the user.
    personal_user_id bigint UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE memberships (
    org_id      bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role        text NOT NULL CHECK (role IN ('viewer', 'member', 'admin')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE access_tokens (
    id           bigserial PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- SHA-256 of the token: the token itself is shown once at creation and never stored.
    token_hash   bytea NOT NULL UNIQUE,
    description  text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX access_tokens_user ON access_tokens (user_id);

CREATE TABLE projects (
    id          bigserial PRIMARY KEY,
    org_id      bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, name)
);

CREATE TABLE stacks (
    id          bigserial PRIMARY KEY,
    project_id  bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name        text NOT NULL,
    tags        jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- Latest recorded (non-preview) version; 0 until the first operation.
    version     integer NOT NULL DEFAULT 0,
    -- The running update, or the most recent real one; NULL if never updated.
    active_update_id uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, name)
);

CREATE TABLE updates (
    id            uuid PRIMARY KEY,
    stack_id      bigint NOT NULL REFERENCES stacks (id) ON DELETE CASCADE,
    -- update | preview | refresh | destroy | import | rename | resource-import
    kind          text NOT NULL,
    dry_run       boolean NOT NULL DEFAULT false,
    -- not started | running | succeeded | failed | cancelled
    status        text NOT NULL DEFAULT 'not started',
    -- The stack version this operation produces (real operations), or the version it read (dry runs).
    version       integer,
    program       jsonb NOT NULL DEFAULT '{}'::jsonb,
    config        jsonb NOT NULL DEFAULT '{}'::jsonb,
    message       text NOT NULL DEFAULT '',
    environment   jsonb NOT NULL DEFAULT '{}'::jsonb,
    initiator_id  bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    start_time    timestamptz,
    end_time      timestamptz,
    -- SHA-256 of the current lease token; the token itself is never stored.
    lease_token_hash bytea UNIQUE,
    lease_expires_at timestamptz,
    resource_changes jsonb,
    resource_count   integer
);
CREATE INDEX updates_stack_history ON updates (stack_id, version DESC) WHERE NOT dry_run;
-- One running real operation per stack, enforced by the database itself.
CREATE UNIQUE INDEX updates_one_running_per_stack ON updates (stack_id)
    WHERE status = 'running' AND NOT dry_run;

-- The deployment of each stack version (version 0: the state given at create, if any). The text is
-- kept gzip-compressed and opaque; only the facts the service needs have columns of their own.
CREATE TABLE checkpoints (
    stack_id        bigint NOT NULL REFERENCES stacks (id) ON DELETE CASCADE,
    version         integer NOT NULL,
    update_id       uuid REFERENCES updates (id) ON DELETE CASCADE,
    deployment_gz   bytea NOT NULL,
    size_bytes      bigint NOT NULL,
    sha256          text NOT NULL,
    resource_count  integer NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stack_id, version)
);

CREATE TABLE engine_events (
    update_id   uuid NOT NULL REFERENCES updates (id) ON DELETE CASCADE,
    sequence    integer NOT NULL,
    -- The payload member's name (stdoutEvent, summaryEvent, ...), for the type filter.
    type        text NOT NULL,
    urn         text,
    event       jsonb NOT NULL,
    PRIMARY KEY (update_id, sequence)
);
