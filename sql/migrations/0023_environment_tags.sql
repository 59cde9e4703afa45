-- 0023: ESC environment tags (`pulumi env tag`, the esc-sdk's environment tags): name/value
-- pairs on an environment, each with who last changed it and when (the wire shows both).
-- A table rather than 0018's environments.tags column (left unused), which has no room for
-- either.

CREATE TABLE environment_tags (
    environment_id bigint NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
    name           text NOT NULL,
    value          text NOT NULL,
    editor_id      bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    modified_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (environment_id, name)
);
