-- 0016: OIDC token exchange (POST /api/oauth/token). An organization trusts identity providers
-- (issuers) whose signed ID tokens it exchanges for short-lived Pulumi access tokens, as each
-- issuer's auth policy allows; the tokens issued remember where they came from.

CREATE TABLE oidc_issuers (
    -- Pulumi's issuer ids are opaque strings; a UUID cannot be guessed from another.
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id         bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name           text NOT NULL,
    -- The base URL given at registration (discovery is url + /.well-known/openid-configuration)
    -- and the `iss` its tokens carry (the discovery document's `issuer`; the url itself with a
    -- static key set). Tokens are matched to an issuer by `iss`, exactly.
    url            text NOT NULL,
    issuer         text NOT NULL,
    -- A static JWK Set for air-gapped setups; NULL: keys come from the discovery's jwks_uri.
    jwks           jsonb,
    -- TLS certificate thumbprints given at registration (kept and returned, not enforced).
    thumbprints    text[] NOT NULL DEFAULT '{}',
    -- The longest lifetime of a token issued through this issuer (seconds).
    max_expiration integer NOT NULL CHECK (max_expiration > 0),
    created_at     timestamptz NOT NULL DEFAULT now(),
    modified_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at   timestamptz,
    UNIQUE (org_id, issuer),
    UNIQUE (org_id, name)
);

-- One policy document per issuer: its rules, tried in order (app/oidc.py states the decision
-- rule). Made with the issuer, empty, and an empty document denies every exchange.
CREATE TABLE oidc_auth_policies (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    issuer_id   uuid NOT NULL UNIQUE REFERENCES oidc_issuers (id) ON DELETE CASCADE,
    version     integer NOT NULL DEFAULT 1,
    policies    jsonb NOT NULL DEFAULT '[]',
    created_at  timestamptz NOT NULL DEFAULT now(),
    modified_at timestamptz NOT NULL DEFAULT now()
);

-- A token issued by an exchange: the `iss` and `sub` of the ID token it was exchanged for, so
-- that the token lists and the audit log say which pipeline holds it. Text rather than a
-- reference: the origin stays known after the issuer is deleted.
ALTER TABLE access_tokens
    ADD COLUMN oidc_issuer  text,
    ADD COLUMN oidc_subject text;
