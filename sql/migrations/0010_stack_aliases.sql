-- 0010: a stack's former names. The CLI keeps calling a stack by the name a state version
-- recorded (a version's secrets provider names the stack as it was when written), so after a
-- rename those calls must still reach the stack. A former name stops resolving as soon as a
-- stack takes it again (created or renamed onto it): a name means one stack at a time.
CREATE TABLE stack_aliases (
    project_id bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name       text NOT NULL,
    stack_id   bigint NOT NULL REFERENCES stacks (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, name)
);
CREATE INDEX stack_aliases_stack ON stack_aliases (stack_id);
