"""OIDC token exchange over the API: a real identity provider on 127.0.0.1 (tests/support/oidc.py)
signs ID tokens, organization `acme` trusts it through the issuer and policy routes, and
POST /api/oauth/token exchanges its tokens, as the CLI (form) and auth-actions (JSON) send them,
or refuses them with RFC 6749's {error, error_description}."""
import time

import pytest

from app import create_app, oidc
from app.oidc_keys import Fetcher, KeyCache
from tests.support.api import People
from tests.support.apps import make_config
from tests.support.oidc import DISCOVERY, Issuer, allow, audience, exchange_fields, trust

TOKEN = "/api/oauth/token"
ISSUERS = "/api/orgs/acme/oidc/issuers"


@pytest.fixture(scope="module")
def oidc_app(database_url):
    # The test issuer is plain http on 127.0.0.1, which only these settings let the service
    # fetch; a key set is fetched again on every unknown kid (OIDC_JWKS_REFRESH_SECONDS=0).
    return create_app(make_config(database_url, OIDC_ALLOW_HTTP=True,
                                  OIDC_ALLOW_PRIVATE_NETWORKS=True, OIDC_JWKS_REFRESH_SECONDS=0))


@pytest.fixture(scope="module")
def issuer():
    with Issuer() as idp:
        yield idp


@pytest.fixture
def org(oidc_app, database_url):
    people = People(oidc_app, database_url)
    yield {"admin": people.user("adam", {"acme": "admin"}),
           "member": people.user("mona", {"acme": "member"}),
           "outsider": people.user("otto", {"globex": "admin"})}
    people.close()


def exchange(app, token, form=True, **fields):
    """POST /api/oauth/token as the CLI does (a form, no Accept, no Authorization) or, with
    form=False, as auth-actions does (JSON, axios' Accept)."""
    body = exchange_fields(token, **{k: v for k, v in fields.items() if k in (
        "org", "token_type", "scope", "expiration")})
    body.update({k: v for k, v in fields.items() if k not in (
        "org", "token_type", "scope", "expiration")})
    body = {k: v for k, v in body.items() if v is not None}
    client = app.test_client()
    if form:
        return client.post(TOKEN, data=body)
    return client.post(TOKEN, json=body, headers={"Accept": "application/json, text/plain, */*"})


def refused(response, status, error, contains=""):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["error"] == error
    assert contains in body["error_description"]
    assert response.headers["Cache-Control"] == "no-store"
    return body


def as_user(app, token):
    return app.test_client().get("/api/user", headers={
        "Accept": "application/vnd.pulumi+8", "Authorization": f"token {token}"})


def audit_events(db, org="acme"):
    with db, db.cursor() as cur:
        cur.execute("SELECT event, actor_name, description FROM audit_log WHERE org_name = %s "
                    "ORDER BY seq", (org,))
        return [(r["event"], r["actor_name"], r["description"]) for r in cur.fetchall()]


# --- exchanges that succeed -----------------------------------------------------------------------

def test_cli_form_exchange_issues_a_personal_token_with_its_origin(oidc_app, org, issuer, db):
    trust(org["admin"], issuer, [allow("personal", userLogin="mona")])
    response = exchange(oidc_app, issuer.mint(), token_type="personal", scope="user:mona")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["issued_token_type"] == "urn:pulumi:token-type:access_token:personal"
    assert (body["token_type"], body["expires_in"], body["scope"]) == ("token", 7200, "user:mona")
    assert response.headers["Cache-Control"] == "no-store"
    assert as_user(oidc_app, body["access_token"]).get_json()["githubLogin"] == "mona"
    # An ordinary token of mona's: listed with its origin and expiry, and revocable.
    (listed,) = [t for t in org["member"].get("/api/user/tokens").get_json()["tokens"]
                 if t["description"].startswith("OIDC")]
    assert listed["description"] == f"OIDC: {issuer.subject} via ci"
    assert abs(listed["expires"] - (time.time() + 7200)) < 60
    assert listed["lastUsed"] > 0
    with db, db.cursor() as cur:
        cur.execute("SELECT oidc_issuer, oidc_subject, token_hash FROM access_tokens "
                    "WHERE id = %s", (int(listed["id"]),))
        row = cur.fetchone()
    assert (row["oidc_issuer"], row["oidc_subject"]) == (issuer.url, issuer.subject)
    assert body["access_token"].encode() not in bytes(row["token_hash"])
    assert org["member"].delete(f"/api/user/tokens/{listed['id']}").status_code == 204
    assert as_user(oidc_app, body["access_token"]).status_code == 401
    assert audit_events(db)[-1] == (
        "oidc.token_exchanged", f"oidc:ci:{issuer.subject}",
        f"issued personal token {listed['id']} (user:mona) for 7200 s to {issuer.subject} "
        "via issuer ci")


def test_auth_actions_json_exchange_with_a_numeric_expiration_capped_by_the_issuer(
        oidc_app, org, issuer):
    trust(org["admin"], issuer, [allow("personal", userLogin="mona")], maxExpiration=900)
    asked = exchange(oidc_app, issuer.mint(kid="ec-1"), form=False, token_type="personal",
                     scope="user:mona", expiration=600)
    assert asked.status_code == 200, asked.get_json()
    assert asked.get_json()["expires_in"] == 600
    capped = exchange(oidc_app, issuer.mint(), form=False, token_type="personal",
                      scope="user:mona", expiration=86400)
    assert capped.get_json()["expires_in"] == 900


def test_rotated_key_is_fetched_once(oidc_app, org):
    with Issuer() as idp:
        trust(org["admin"], idp, [allow("personal", userLogin="mona")])
        first = exchange(oidc_app, idp.mint(), token_type="personal", scope="user:mona")
        assert first.status_code == 200
        fetched = idp.served["/keys"]
        new_kid = idp.rotate()
        for _ in range(2):
            again = exchange(oidc_app, idp.mint(kid=new_kid), token_type="personal",
                             scope="user:mona")
            assert again.status_code == 200, again.get_json()
        assert idp.served["/keys"] == fetched + 1
        # The retired key is gone from the set the service now holds.
        old = exchange(oidc_app, idp.mint(kid="rsa-1"), token_type="personal", scope="user:mona")
        refused(old, 400, "invalid_request", "no key with kid 'rsa-1'")


def test_unknown_kids_refetch_at_most_once_per_interval():
    with Issuer() as idp:
        cache = KeyCache(Fetcher(allow_http=True, allow_private=True), refresh_interval=3600)
        assert cache.key(idp.url, "rsa-1") is not None
        for kid in ("nope-1", "nope-2", "nope-3"):
            assert cache.key(idp.url, kid) is None
        assert idp.served["/keys"] == 1


def test_static_key_set_is_used_without_fetching(oidc_app, org, issuer):
    before = sum(issuer.served.values())
    trust(org["admin"], issuer, [allow("personal", userLogin="mona")], jwks=issuer.jwks())
    assert sum(issuer.served.values()) == before
    ok = exchange(oidc_app, issuer.mint(kid="ec-1"), token_type="personal", scope="user:mona")
    assert ok.status_code == 200, ok.get_json()
    assert sum(issuer.served.values()) == before


def token_row(db, token_id):
    with db, db.cursor() as cur:
        cur.execute("SELECT t.kind, t.admin, t.name, o.name AS org, tm.name AS team, "
                    "t.oidc_subject, t.user_id FROM access_tokens t "
                    "LEFT JOIN organizations o ON o.id = t.org_id "
                    "LEFT JOIN teams tm ON tm.id = t.team_id WHERE t.id = %s", (token_id,))
        return cur.fetchone()


def exchanged_token_id(db, org="acme"):
    """The id of the token the last exchange issued (from the audit record's target)."""
    with db, db.cursor() as cur:
        cur.execute("SELECT target FROM audit_log WHERE org_name = %s AND "
                    "event = 'oidc.token_exchanged' ORDER BY seq DESC LIMIT 1", (org,))
        return int(cur.fetchone()["target"].split()[-1])


def test_organization_tokens_and_the_admin_permission(oidc_app, org, issuer, db):
    trust(org["admin"], issuer, [
        allow("organization", rules={"ref": "refs/heads/main"}, authorizedPermissions=["admin"]),
        allow("organization", rules={"ref": "refs/heads/dev*"})])
    admin = exchange(oidc_app, issuer.mint(), scope="admin")
    assert admin.status_code == 200, admin.get_json()
    assert admin.get_json()["issued_token_type"] == (
        "urn:pulumi:token-type:access_token:organization")
    row = token_row(db, exchanged_token_id(db))
    assert (row["kind"], row["admin"], row["org"], row["user_id"], row["oidc_subject"]) == (
        "organization", True, "acme", None, issuer.subject)
    assert row["name"].startswith("oidc-")
    me = as_user(oidc_app, admin.get_json()["access_token"]).get_json()
    assert me["tokenInfo"] == {"name": row["name"], "organization": "acme", "team": ""}
    # In the organization's token list with its origin, and revocable there.
    (listed,) = org["admin"].get("/api/orgs/acme/tokens").get_json()["tokens"]
    assert (listed["name"], listed["admin"], listed["description"]) == (
        row["name"], True, f"OIDC: {issuer.subject} via ci")
    assert org["admin"].delete(f"/api/orgs/acme/tokens/{listed['id']}").status_code == 204
    assert as_user(oidc_app, admin.get_json()["access_token"]).status_code == 401
    plain = exchange(oidc_app, issuer.mint(ref="refs/heads/dev-1"))
    assert plain.status_code == 200
    assert token_row(db, exchanged_token_id(db))["admin"] is False
    # The dev branch's policy grants no admin permission.
    refused(exchange(oidc_app, issuer.mint(ref="refs/heads/dev-1"), scope="admin"), 403,
            "access_denied")


def test_team_tokens_name_their_team(oidc_app, org, issuer, db):
    with db, db.cursor() as cur:
        cur.execute("INSERT INTO teams (org_id, name) SELECT id, 'platform' FROM organizations "
                    "WHERE name = 'acme'")
    trust(org["admin"], issuer, [allow("team", teamName="platform"),
                                 allow("team", teamName="ghosts")])
    granted = exchange(oidc_app, issuer.mint(), token_type="team", scope="team:platform")
    assert granted.status_code == 200, granted.get_json()
    assert granted.get_json()["scope"] == "team:platform"
    row = token_row(db, exchanged_token_id(db))
    assert (row["kind"], row["team"], row["org"]) == ("team", "platform", "acme")
    me = as_user(oidc_app, granted.get_json()["access_token"]).get_json()
    assert me["tokenInfo"]["team"] == "platform"
    refused(exchange(oidc_app, issuer.mint(), token_type="team", scope="team:ghosts"), 400,
            "invalid_scope", "no team 'ghosts'")
    refused(exchange(oidc_app, issuer.mint(), token_type="team", scope="team:ops"), 403,
            "access_denied")


# --- refusals -------------------------------------------------------------------------------------

@pytest.fixture
def trusted(oidc_app, org, issuer):
    """acme trusts the issuer for mona's personal tokens from acme/infra, except tokens of the
    `evil` branch."""
    trust(org["admin"], issuer, [
        {"decision": "deny", "tokenType": "personal", "userLogin": "mona",
         "rules": {"ref": "refs/heads/evil*"}},
        allow("personal", userLogin="mona"),
    ])
    return issuer


MONA = {"token_type": "personal", "scope": "user:mona"}


@pytest.mark.parametrize("make,fields,status,error,contains", [
    (lambda i: i.mint(ref="refs/heads/evil-twin"), MONA, 403, "access_denied", "deny policy"),
    (lambda i: i.mint(sub="repo:other/repo:ref:refs/heads/main"), MONA, 403, "access_denied",
     "no allow policy"),
    (lambda i: i.mint(), {"token_type": "personal", "scope": "user:adam"}, 403,
     "access_denied", "no allow policy"),
    (lambda i: i.mint(), {"token_type": "organization"}, 403, "access_denied", ""),
    (lambda i: i.mint(aud="urn:pulumi:org:globex"), MONA, 400, "invalid_request", "audience"),
    (lambda i: i.mint(lifetime=-3600), MONA, 400, "invalid_request", "expired"),
    (lambda i: i.mint(iat=int(time.time()) + 3600), MONA, 400, "invalid_request", ""),
    (lambda i: i.mint(sub=None), MONA, 400, "invalid_request", "sub"),
    (lambda i: i.forged(), MONA, 400, "invalid_request", "signature"),
    (lambda i: i.forged(kid="ec-1"), MONA, 400, "invalid_request", "signature"),
    (lambda i: i.unsigned(), MONA, 400, "invalid_request", "'none'"),
    (lambda i: i.hmac_with_public_key(), MONA, 400, "invalid_request", "'HS256'"),
    (lambda i: i.mint(headers={"kid": "unknown"}), MONA, 400, "invalid_request", "kid"),
    (lambda i: "not-a-jwt", MONA, 400, "invalid_request", "not a JWT"),
    (lambda i: "e30.e30.e30", MONA, 400, "invalid_request", ""),
    (lambda i: "a" * 20000, MONA, 400, "invalid_request", "longer than"),
    (lambda i: i.mint(), {**MONA, "grant_type": "refresh_token"}, 400,
     "unsupported_grant_type", ""),
    (lambda i: i.mint(), {**MONA, "subject_token_type": "saml"}, 400, "invalid_request", ""),
    (lambda i: i.mint(), {**MONA, "audience": "acme"}, 400, "invalid_target", ""),
    (lambda i: i.mint(), {**MONA, "audience": None}, 400, "invalid_request", "audience"),
    (lambda i: i.mint(), {**MONA, "expiration": "soon"}, 400, "invalid_request", "expiration"),
    (lambda i: i.mint(), {**MONA, "expiration": "0"}, 400, "invalid_request", "expiration"),
    (lambda i: i.mint(), {**MONA, "expiration": "²"}, 400, "invalid_request", "expiration"),
    (lambda i: i.mint(), {"token_type": "runner", "scope": "runner:r"}, 400, "invalid_request",
     "runner"),
    (lambda i: i.mint(), {"token_type": "personal", "scope": "team:x"}, 400, "invalid_scope", ""),
    (lambda i: i.mint(), {"token_type": "personal", "scope": "user:otto"}, 403, "access_denied",
     ""),
    (lambda i: i.mint(), {"token_type": "wizard"}, 400, "invalid_request", ""),
], ids=["policy deny", "subject not allowed", "user not allowed", "type not allowed",
        "wrong audience", "expired", "issued in the future", "no subject", "forged RSA",
        "forged EC", "alg none", "HMAC with the public key", "unknown kid", "malformed",
        "garbage segments", "oversized", "refresh grant", "SAML subject", "bare audience",
        "no audience", "expiration not a number", "expiration zero", "expiration superscript",
        "runner", "scope mismatch", "non-member", "unknown token type"])
def test_exchange_refused(oidc_app, trusted, make, fields, status, error, contains):
    refused(exchange(oidc_app, make(trusted), **fields), status, error, contains)
    refused(exchange(oidc_app, make(trusted), form=False, **fields), status, error, contains)


def test_unregistered_issuer_and_unknown_organization_get_the_same_answer(oidc_app, trusted):
    with Issuer() as stranger:
        unregistered = refused(exchange(oidc_app, stranger.mint(), **MONA), 400,
                               "invalid_request", "not trusted")
    unknown = refused(exchange(oidc_app, trusted.mint(org="nosuchorg"), org="nosuchorg", **MONA),
                      400, "invalid_request", "not trusted")
    assert unregistered["error_description"].replace("acme", "X") == \
        unknown["error_description"].replace("nosuchorg", "X")


def test_a_new_issuer_denies_everything(oidc_app, org, issuer):
    created = org["admin"].post(ISSUERS, body={"name": "ci", "url": issuer.url})
    policy = org["admin"].get(f"/api/orgs/acme/auth/policies/oidcissuers/"
                              f"{created.get_json()['id']}").get_json()
    assert (policy["policies"], policy["version"]) == ([], 1)
    refused(exchange(oidc_app, issuer.mint(), **MONA), 403, "access_denied")


def test_refused_genuine_token_is_audited(oidc_app, trusted, db):
    exchange(oidc_app, trusted.mint(ref="refs/heads/evil"), **MONA)
    event, actor, description = audit_events(db)[-1]
    assert event == "oidc.exchange_refused"
    assert actor == f"oidc:ci:{trusted.subject}"
    assert "deny policy" in description


def test_bodies_the_route_cannot_read(oidc_app):
    client = oidc_app.test_client()
    refused(client.post(TOKEN, data="{not json", content_type="application/json"), 400,
            "invalid_request")
    refused(client.post(TOKEN, json=["a"]), 400, "invalid_request")
    refused(client.post(TOKEN, json={"grant_type": 7}), 400, "invalid_request")
    refused(client.post(TOKEN, data="x" * 70000, content_type="text/plain"), 400,
            "invalid_request", "too large")


# --- policies: the rule language ------------------------------------------------------------------

@pytest.mark.parametrize("pattern,value,matches", [
    ("repo:acme/*", "repo:acme/infra:ref:main", True),
    ("repo:acme/*", "repo:acmex/infra", False),
    ("v?", "v", True), ("v?", "v1", True), ("v?", "v12", False),
    ("a.c", "abc", True), ("a.c", "ac", False),
    ("exact", "exact", True), ("exact", "exactly", False),
    ("[x]+", "[x]+", True),
])
def test_rule_wildcards(pattern, value, matches):
    assert oidc.pattern_matches(pattern, value) is matches


def test_claim_paths_reach_nested_and_dotted_keys(oidc_app, org, issuer):
    trust(org["admin"], issuer, [allow("personal", userLogin="mona", rules={
        '"kubernetes.io".namespace': "ci-*", "groups": "deployers", "run_attempt": "1"})])
    nested = {"kubernetes.io": {"namespace": "ci-prod"}}
    ok = exchange(oidc_app, issuer.mint(**nested, groups=["devs", "deployers"], run_attempt=1),
                  **MONA)
    assert ok.status_code == 200, ok.get_json()
    refused(exchange(oidc_app, issuer.mint(**nested, groups=["devs"], run_attempt=1), **MONA),
            403, "access_denied")


@pytest.mark.parametrize("policy,message", [
    ({"decision": "allow", "tokenType": "personal", "rules": {"sub": "*"}}, "userLogin"),
    ({"decision": "allow", "tokenType": "team", "rules": {"sub": "*"}}, "teamName"),
    ({"decision": "allow", "tokenType": "organization", "rules": {}}, "at least one rule"),
    ({"decision": "allow", "tokenType": "organization", "rules": {'a."b': "x"}}, "claim path"),
    ({"decision": "allow", "tokenType": "team", "teamName": "t", "rules": {"sub": "*"},
      "authorizedPermissions": ["admin"]}, "organization tokens only"),
    ({"decision": "maybe", "tokenType": "organization", "rules": {"sub": "*"}}, "decision"),
])
def test_invalid_policies_are_refused(org, issuer, policy, message):
    created = org["admin"].post(ISSUERS, body={"name": "ci", "url": issuer.url}).get_json()
    policy_id = org["admin"].get(
        f"/api/orgs/acme/auth/policies/oidcissuers/{created['id']}").get_json()["id"]
    response = org["admin"].patch(f"/api/orgs/acme/auth/policies/{policy_id}",
                                  body={"policies": [policy]})
    assert response.status_code == 400, response.get_json()
    assert message in response.get_json()["message"]


# --- trust configuration --------------------------------------------------------------------------

def test_issuer_lifecycle_is_admin_only_and_audited(org, issuer, db):
    admin = org["admin"]
    created = admin.post(ISSUERS, body={"name": "ci", "url": issuer.url, "maxExpiration": 3600})
    assert created.status_code == 200, created.get_json()
    found = created.get_json()
    assert (found["name"], found["url"], found["issuer"], found["maxExpiration"],
            found["thumbprints"]) == ("ci", issuer.url, issuer.url, 3600, [])
    assert "jwks" not in found and "lastUsed" not in found
    assert admin.post(ISSUERS, body={"name": "ci", "url": issuer.url}).status_code == 409
    assert admin.get(ISSUERS).get_json()["oidcIssuers"] == [found]
    assert org["member"].get(ISSUERS).status_code == 403
    assert org["outsider"].get(ISSUERS).status_code == 404
    patched = admin.patch(f"{ISSUERS}/{found['id']}", body={"name": "github",
                                                             "maxExpiration": None})
    assert (patched.get_json()["name"], patched.get_json()["maxExpiration"]) == ("github", 3600)
    assert admin.get(f"{ISSUERS}/{found['id']}").get_json()["name"] == "github"
    assert admin.delete(f"{ISSUERS}/{found['id']}").status_code == 204
    assert admin.get(f"{ISSUERS}/{found['id']}").status_code == 404
    assert admin.get(f"/api/orgs/acme/auth/policies/oidcissuers/{found['id']}").status_code == 404
    assert [e for e, _, _ in audit_events(db)] == [
        "oidc.issuer_registered", "auth.forbidden", "oidc.issuer_updated", "oidc.issuer_deleted"]


def test_thumbprints_pin_the_issuers_tls_certificate(oidc_app, org, db, monkeypatch):
    """An issuer registered with thumbprints is fetched only from a server presenting one of
    those certificates (besides a trusted one: here the test's own authority, through
    SSL_CERT_FILE): at registration, at a change of the thumbprints, and at every key fetch."""
    admin = org["admin"]
    with Issuer(tls=True) as idp:
        monkeypatch.setenv("SSL_CERT_FILE", idp.cert_file)
        wrong = "00" * 20
        refused_registration = admin.post(ISSUERS, body={"name": "tls", "url": idp.url,
                                                         "thumbprints": [wrong]})
        assert refused_registration.status_code == 400
        assert "matches none of the registered thumbprints" in \
            refused_registration.get_json()["message"]
        assert idp.served[DISCOVERY] == 0   # the handshake, and no request after it
        sha256 = idp.thumbprint("sha256").upper()
        pinned = ":".join(sha256[i:i + 2] for i in range(0, len(sha256), 2))
        found = trust(admin, idp, [allow("personal", userLogin="mona")], name="tls",
                      thumbprints=[wrong, pinned])
        assert found["thumbprints"] == [wrong, pinned]
        granted = exchange(oidc_app, idp.mint(), token_type="personal", scope="user:mona")
        assert granted.status_code == 200, granted.get_json()

        changed = admin.patch(f"{ISSUERS}/{found['id']}", body={"thumbprints": [wrong]})
        assert changed.status_code == 400
        assert admin.get(f"{ISSUERS}/{found['id']}").get_json()["thumbprints"] == [wrong, pinned]
        assert admin.patch(f"{ISSUERS}/{found['id']}", body={
            "thumbprints": [idp.thumbprint("sha1")]}).status_code == 200
        # The certificate changes under the issuer (here: its pins, behind the API's back): the
        # keys are fetched again for the new pins, and refused.
        with db, db.cursor() as cur:
            cur.execute("UPDATE oidc_issuers SET thumbprints = %s WHERE id = %s",
                        ([wrong], found["id"]))
        refused(exchange(oidc_app, idp.mint(), token_type="personal", scope="user:mona"),
                503, "temporarily_unavailable", "thumbprints")


@pytest.mark.parametrize("thumbprints,status", [
    (["ab" * 20], 400),           # over http: a certificate cannot be pinned
    (["xyz"], 400), (["ab" * 19], 400), (["ab" * 33], 400),
])
def test_thumbprints_need_https_and_hex_of_a_certificates_digest(org, issuer, thumbprints,
                                                                  status):
    response = org["admin"].post(ISSUERS, body={"name": "x", "url": issuer.url,
                                                "thumbprints": thumbprints})
    assert response.status_code == status, response.get_json()
    assert org["admin"].get(ISSUERS).get_json()["oidcIssuers"] == []


def test_issuers_of_another_organization_are_not_found(org, issuer):
    found = org["admin"].post(ISSUERS, body={"name": "ci", "url": issuer.url}).get_json()
    globex = org["outsider"]
    assert globex.get(f"/api/orgs/globex/oidc/issuers/{found['id']}").status_code == 404
    assert globex.delete(f"/api/orgs/globex/oidc/issuers/{found['id']}").status_code == 404


@pytest.mark.parametrize("body,message", [
    ({"name": "x", "url": "ftp://idp.example"}, "url"),
    ({"name": "x", "url": "https://idp.example", "jwks": {"keys": []}}, "no usable signing key"),
    ({"name": "x", "url": "https://idp.example",
      "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}, "no usable signing key"),
    ({"name": "x", "url": "https://idp.example", "maxExpiration": -1}, "maxExpiration"),
])
def test_invalid_registrations_are_refused(org, body, message):
    response = org["admin"].post(ISSUERS, body=body)
    assert response.status_code == 400, response.get_json()
    assert message in response.get_json()["message"]


def test_discovery_is_https_and_public_only_by_default(acme, issuer):
    # The session's app has the default settings: no plain http, no loopback addresses.
    admin = acme["admin"]
    plain = admin.post(ISSUERS, body={"name": "ci", "url": issuer.url})
    assert plain.status_code == 400 and "https" in plain.get_json()["message"]
    loopback = admin.post(ISSUERS, body={"name": "ci", "url": "https://127.0.0.1:1"})
    assert loopback.status_code == 400
    assert "non-public address" in loopback.get_json()["message"]


def test_a_discovery_document_for_another_issuer_is_refused(org, issuer):
    # The issuer's document names http://127.0.0.1:<port>; registered as localhost, it lies.
    url = issuer.url.replace("127.0.0.1", "localhost")
    response = org["admin"].post(ISSUERS, body={"name": "ci", "url": url})
    assert response.status_code == 400
    assert "names another issuer" in response.get_json()["message"]
