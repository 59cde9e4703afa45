-- 0011: stacks moved in from a DIY backend (`pulumi-service import-diy`). A stack imports in one
-- transaction together with its row here, so a row means the stack came over whole: `--resume`
-- skips exactly these, and re-running without it can tell "imported before" from "made here".
CREATE TABLE diy_imports (
    stack_id      bigint PRIMARY KEY REFERENCES stacks (id) ON DELETE CASCADE,
    -- The DIY backend's URL and the stack's name there ("project/stack", or "stack" in the
    -- legacy layout), so that a resume only skips what came from the same place.
    source        text NOT NULL,
    source_stack  text NOT NULL,
    versions      integer NOT NULL,
    source_bytes  bigint NOT NULL,
    imported_at   timestamptz NOT NULL DEFAULT now()
);
