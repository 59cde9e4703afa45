-- 0009: the audit log. Each organization's records form a hash chain (app/audit.py): a record
-- stores the SHA-256 of its canonical content, which includes the hash of the record before it,
-- so that an edited, removed or reordered record breaks the chain (`pulumi-service audit verify`).

CREATE TABLE audit_log (
    id             bigserial PRIMARY KEY,
    -- The organization by name, not by reference: records outlive what they describe. '' is the
    -- service's own chain, for events that belong to no organization (e.g. failed
    -- authentications on /api/user).
    org_name       text NOT NULL,
    -- Position in the organization's chain, from 1 without gaps (until a recorded cut).
    seq            bigint NOT NULL,
    -- The database's clock, read while the chain head is locked, so times follow the chain.
    at             timestamptz NOT NULL,
    event          text NOT NULL,
    -- Who: a user's login (empty for the admin command and for unauthenticated callers), a
    -- display name for non-human actors, the API token's id (never the token).
    actor_login    text NOT NULL DEFAULT '',
    actor_name     text NOT NULL DEFAULT '',
    token_id       bigint,
    source_ip      text NOT NULL DEFAULT '',
    user_agent     text NOT NULL DEFAULT '',
    -- What: e.g. the stack `acme/web/prod`, the member `mona`, the token `#3`.
    target         text NOT NULL DEFAULT '',
    description    text NOT NULL,
    -- Set on `audit.pruned` records only: records of this chain below this seq may be deleted,
    -- and the first record kept names `cut_anchor` (the hash of the last one deleted) as its
    -- predecessor, so that the chain still verifies from the cut.
    cut_before_seq bigint,
    cut_anchor     bytea,
    prev_hash      bytea NOT NULL,
    hash           bytea NOT NULL,
    UNIQUE (org_name, seq)
);
-- Reading a log newest first, filtered by time (the API's default order).
CREATE INDEX audit_log_org_at ON audit_log (org_name, at);

-- One row per chain: its last record. Appends lock this row (so two concurrent requests cannot
-- fork a chain) and move it forward; verify checks that it names the last record (a removed
-- tail shows).
CREATE TABLE audit_chain_heads (
    org_name  text PRIMARY KEY,
    seq       bigint NOT NULL,
    hash      bytea NOT NULL
);

-- Records are never changed, and removed only below a recorded cut (`pulumi-service audit
-- prune`). The service's own database role is refused like any other: these triggers run for
-- every role (a superuser can still disable them, which the hash chain then shows).
CREATE FUNCTION audit_log_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND EXISTS (
        SELECT 1 FROM audit_log c
         WHERE c.org_name = OLD.org_name AND c.cut_before_seq > OLD.seq
    ) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit log records cannot be changed or deleted (% of record % of %)',
        TG_OP, OLD.seq, quote_literal(OLD.org_name)
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_log_immutable BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_immutable();

-- A head only moves forward, one record at a time, and is never removed.
CREATE FUNCTION audit_chain_head_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.org_name = OLD.org_name
       AND (NEW.seq = OLD.seq + 1 OR (NEW.seq = OLD.seq AND NEW.hash = OLD.hash)) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit chain heads only move forward (% of %)', TG_OP, quote_literal(OLD.org_name)
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_chain_head_forward BEFORE UPDATE OR DELETE ON audit_chain_heads
    FOR EACH ROW EXECUTE FUNCTION audit_chain_head_forward();
