-- 0020: one-time invite links to an organization, made by its admins in the console. The link
-- carries only a random secret; its SHA-256 is here (as access tokens' are), with the role the
-- invitee gets, when the link stops working, and who used it (a used link never works again).
CREATE TABLE org_invites (
    id          bigserial PRIMARY KEY,
    org_id      bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    secret_hash bytea NOT NULL UNIQUE,
    role        text NOT NULL CHECK (role IN ('viewer', 'member', 'admin')),
    created_by  bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    used_by     bigint REFERENCES users (id) ON DELETE SET NULL
);
-- The members page lists an organization's open invites.
CREATE INDEX org_invites_org ON org_invites (org_id, expires_at);
